"""Segment a folder…: the CLI's pipeline from the widget, in the background, with Cancel."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import tifffile
from qtpy.QtCore import QTimer

from napari_unet_nuclei._sample_data import synthetic_nuclei

from ._helpers import slow_network

RUN_TIMEOUT_MS = 120_000


def image_folder(path: Path, n: int = 3, corrupt: bool = True) -> Path:
    """``n`` synthetic 128² images, and a fourth file that is not an image at all."""
    path.mkdir()
    for i in range(n):
        tifffile.imwrite(path / f"cells_{i}.tif", synthetic_nuclei((128, 128), seed=i)[0])
    if corrupt:
        (path / "broken.tif").write_bytes(b"II*\x00 this is not a TIFF")
    return path


def run_folder(qtbot, widget, folder: Path, output: Path) -> None:
    """Choose the folders (no dialog), press Segment a folder… and wait for the end."""
    widget._folder.choose = lambda: (folder, output)
    widget._folder.start.native.click()
    qtbot.waitUntil(lambda: widget._folder.worker is None, timeout=RUN_TIMEOUT_MS)


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_folder_gives_labels_and_csvs_and_one_line_per_failure(qtbot, docked, tmp_path):
    folder = image_folder(tmp_path / "images")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(docked._folder.worker is not None))
    timer.start(20)
    run_folder(qtbot, docked, folder, tmp_path / "out")
    timer.stop()
    out = tmp_path / "out"
    labels = sorted(p.name for p in out.glob("*.tif"))
    assert labels == ["cells_0.tif", "cells_1.tif", "cells_2.tif"]
    for name in labels:
        written = tifffile.imread(out / name)
        table = rows(out / name.replace(".tif", "_measurements.csv"))
        assert len(table) == len(np.unique(written)) - 1 > 0
        assert {int(r["label"]) for r in table} == set(np.unique(written)[1:].tolist())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        labels + [n.replace(".tif", "_measurements.csv") for n in labels]
    )  # nothing else: no temporary left behind
    status = docked._folder.status.value.splitlines()
    assert status[0].startswith("3 of 4 images segmented")
    failed = [line for line in status if line.startswith("Failed:")]
    assert len(failed) == 1 and failed[0].startswith("Failed: broken.tif: ")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # inputs untouched
    assert sum(ticks) >= 3, "the event loop ran while the folder was segmented"
    assert docked._folder.start.enabled and not docked._folder.cancel.enabled


def test_cancel_stops_a_folder_run_with_whole_files_only(qtbot, docked, tmp_path, monkeypatch):
    # more images than can be in flight (images side by side, one read ahead) when Cancel lands
    folder = image_folder(tmp_path / "images", n=8, corrupt=False)
    slow_network(monkeypatch, 0.6)
    docked._folder.choose = lambda: (folder, tmp_path / "out")
    docked._folder.start.native.click()
    assert docked._folder.cancel.enabled and not docked._folder.start.enabled
    qtbot.waitUntil(lambda: docked._folder.progress.value >= 1, timeout=RUN_TIMEOUT_MS)
    docked._folder.cancel.native.click()
    qtbot.waitUntil(lambda: docked._folder.worker is None, timeout=RUN_TIMEOUT_MS)
    out = tmp_path / "out"
    written = sorted(p.stem for p in out.glob("*.tif"))
    assert 1 <= len(written) < 8
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{s}.tif" for s in written] + [f"{s}_measurements.csv" for s in written]
    )  # each written image whole, with its CSV; no partial file
    for stem in written:
        assert tifffile.imread(out / f"{stem}.tif").shape == (128, 128)
    assert docked._folder.status.value.startswith("Cancelled: ")
    assert docked._folder.start.enabled and not docked._folder.cancel.enabled


def test_an_output_that_could_lose_data_is_refused_before_anything_is_written(
    qtbot, docked, tmp_path
):
    folder = image_folder(tmp_path / "images", n=1, corrupt=False)
    docked._folder.choose = lambda: (folder, folder)
    assert docked._folder.run() is None
    assert docked._folder.status.value.startswith("Not started: ")
    assert sorted(p.name for p in folder.iterdir()) == ["cells_0.tif"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.docx").write_bytes(b"years of work")
    docked._folder.choose = lambda: (folder, other)
    assert docked._folder.run() is None
    assert "thesis.docx" in docked._folder.status.value
    assert sorted(p.name for p in other.iterdir()) == ["thesis.docx"]
    docked._folder.choose = lambda: None  # the dialog closed: nothing happens
    assert docked._folder.run() is None


def test_the_default_output_is_a_new_folder_beside_the_images(tmp_path):
    from napari_unet_nuclei._qt._folder import default_output

    (tmp_path / "images_nuclei").mkdir()
    assert default_output(tmp_path / "images") == tmp_path / "images_nuclei-2"
