"""``segment --track``: a time-lapse's label file keeps one id per nucleus over time."""

from __future__ import annotations

import csv

import numpy as np
import tifffile
from _timelapse import predicted_links, shuffled, synthetic_movie, truth_links

from napari_unet_nuclei._engine import NucleusModel
from napari_unet_nuclei._prediction import Segmentation
from napari_unet_nuclei.cli.app import main


def _fake_segmentation(monkeypatch, labels: np.ndarray) -> None:
    """The stack segmented as ``labels`` (the engine's own path is tested elsewhere)."""
    fake = lambda self, image, **options: Segmentation(labels, None, "stack")  # noqa: E731
    monkeypatch.setattr(NucleusModel, "segment", fake)


def test_track_gives_each_nucleus_one_id_over_time(tmp_path, monkeypatch, tiny_weights):
    movie = synthetic_movie(frames=10, nuclei=9, divisions=1, seed=4)
    _fake_segmentation(monkeypatch, shuffled(movie.labels))
    tifffile.imwrite(tmp_path / "movie.tif", movie.labels, imagej=True, metadata={"axes": "TYX"})
    args = ["segment", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "out"), "--track"]
    assert main([*args, "--device", "cpu", "--weights", tiny_weights, "--workers", "0"]) == 0
    written = tifffile.imread(tmp_path / "out" / "movie.tif")
    truth = truth_links(movie.labels, movie.parents)
    made = predicted_links(movie.labels, written, _lineage(tmp_path / "out" / "movie_tracks.csv"))
    assert made == truth and len(np.unique(written)) - 1 == 9 + 2  # mother ends, 2 born


def _lineage(path) -> dict[int, int]:
    """{daughter: mother} of a lineage CSV; checks each row's frames against the columns."""
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["track_id", "start_frame", "end_frame", "parent_track_id"]
    assert all(0 <= int(r["start_frame"]) <= int(r["end_frame"]) for r in rows)
    pairs = ((int(r["track_id"]), int(r["parent_track_id"])) for r in rows)
    return {daughter: mother for daughter, mother in pairs if mother}


def test_a_rerun_replaces_its_lineage_but_never_an_edited_one(tmp_path, monkeypatch, tiny_weights):
    movie = synthetic_movie(frames=4, nuclei=4, divisions=0, seed=5)
    _fake_segmentation(monkeypatch, shuffled(movie.labels))
    tifffile.imwrite(tmp_path / "movie.tif", movie.labels, imagej=True, metadata={"axes": "TYX"})
    out = tmp_path / "out"
    args = ["segment", str(tmp_path / "movie.tif"), "-o", str(out), "--track", "--device", "cpu"]
    args += ["--weights", tiny_weights, "--parallel-files", "0"]
    assert main(args) == 0
    assert main(args) == 2  # an earlier output: only with --overwrite
    assert main([*args, "--overwrite"]) == 0
    lineage = out / "movie_tracks.csv"
    lineage.write_text(lineage.read_text() + "99,0,3,0\n")  # the user's own row
    edited = lineage.read_bytes()
    assert main([*args, "--overwrite"]) == 2  # edited since: not ours any more
    assert lineage.read_bytes() == edited


def test_without_track_the_ids_of_a_time_lapse_differ_per_frame(
    tmp_path, monkeypatch, tiny_weights
):
    movie = synthetic_movie(frames=4, nuclei=4, divisions=0, seed=4)
    _fake_segmentation(monkeypatch, shuffled(movie.labels))
    tifffile.imwrite(tmp_path / "movie.tif", movie.labels, imagej=True, metadata={"axes": "TYX"})
    args = ["segment", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "out")]
    assert main([*args, "--device", "cpu", "--weights", tiny_weights, "--workers", "0"]) == 0
    written = tifffile.imread(tmp_path / "out" / "movie.tif")
    assert len(np.unique(written)) - 1 == 4 * 4


def test_track_on_a_z_stack_time_lapse_is_one_failed_file(
    tmp_path, monkeypatch, capsys, tiny_weights
):
    labels = np.zeros((2, 2, 16, 16), np.uint32)
    _fake_segmentation(monkeypatch, labels)
    tifffile.imwrite(
        tmp_path / "tz.tif", labels.astype(np.uint16), imagej=True, metadata={"axes": "TZYX"}
    )
    args = ["segment", str(tmp_path / "tz.tif"), "-o", str(tmp_path / "out"), "--track"]
    assert main([*args, "--device", "cpu", "--weights", tiny_weights, "--workers", "0"]) == 1
    assert "2D time-lapse (TYX)" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tz.tif").exists()
