"""``segment --track``: a time-lapse's label file keeps one id per nucleus over time."""

from __future__ import annotations

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
    made = predicted_links(movie.labels, written, {})  # a file holds no lineage
    same_track = {link for link in truth if link[0][0] == link[1][0]}
    assert same_track <= made and len(np.unique(written)) - 1 == 9 + 2  # mother ends, 2 born


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
