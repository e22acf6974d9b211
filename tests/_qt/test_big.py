"""Big 2D images in the widget: block by block into a disk-backed array, Cancel, saving."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from napari.layers import Labels

from napari_unet_nuclei import _engine, segment_nuclei
from napari_unet_nuclei._qt import _big
from napari_unet_nuclei._sample_data import synthetic_nuclei

from ._helpers import RUN_TIMEOUT_MS, only_labels, run_and_wait

BIG = dict(big_image_pixels=200_000, block_size=256)  # 512² counts as big: 2 x 2 blocks


@pytest.fixture
def big_widget(make_napari_viewer, new_widget):
    """A 512² image that counts as big (threshold lowered), in blocks of 256: 2 x 2 blocks."""
    image = synthetic_nuclei((512, 512), seed=4)[0]
    viewer = make_napari_viewer()
    viewer.add_image(image, name="slide")
    widget = new_widget(viewer)
    widget.engine_options.update(BIG)
    return viewer, widget, image


def test_big_image_goes_block_by_block_into_a_disk_backed_layer(
    qtbot, big_widget, tiny_weights, tmp_path
):
    viewer, widget, image = big_widget
    seen: list[tuple[int, int]] = []
    widget._relay.advanced.connect(lambda done, total: seen.append((done, total)))
    run_and_wait(qtbot, widget)
    layer = only_labels(viewer)
    assert isinstance(layer.data, np.memmap) and layer.data.shape == image.shape
    assert seen[-1] == (4, 4) and widget._progress.label == "Blocks"
    expected = segment_nuclei(image, device="cpu", weights=tiny_weights, **BIG)
    assert np.array_equal(np.asarray(layer.data), expected)  # the engine's blocks, stitched
    assert "block by block" in widget._status.value
    widget._threshold.value = 0.7  # no cached maps: the slider asks for a new run
    assert "Press Segment nuclei to apply to the big image" in widget._status.value
    assert not widget._timer.isActive()
    saved = widget.save_to(str(tmp_path / "slide.tif"), viewer.layers["slide"], layer)
    with open(saved[1], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == int(np.asarray(layer.data).max()) > 100


def test_small_images_keep_the_cached_slider(qtbot, make_napari_viewer, new_widget):
    viewer = make_napari_viewer()
    viewer.add_image(synthetic_nuclei((128, 128), seed=1)[0])
    assert not _big.is_big(viewer.layers[0])
    widget = new_widget(viewer)
    run_and_wait(qtbot, widget)
    assert widget._session.prediction is not None
    assert not isinstance(only_labels(viewer).data, np.memmap)


def test_cancel_between_blocks_keeps_the_previous_labels(qtbot, big_widget, monkeypatch):
    viewer, widget, _ = big_widget
    widget.engine_options.update(block_threads=1)  # one block at a time: each start is counted
    run_and_wait(qtbot, widget)
    before = np.array(only_labels(viewer).data)
    real = _engine.NucleusModel.label_region
    started: list[int] = []

    def slow(*args, **kwargs):
        started.append(1)
        time.sleep(0.4)
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine.NucleusModel, "label_region", slow)
    seen: list[int] = []
    widget._relay.advanced.connect(lambda done, total: seen.append(done))
    widget._segment.native.click()
    qtbot.waitUntil(lambda: bool(seen), timeout=RUN_TIMEOUT_MS)
    widget._cancel.native.click()
    at_cancel = len(started)
    qtbot.waitUntil(lambda: not widget._session.running, timeout=RUN_TIMEOUT_MS)
    assert len(started) - at_cancel <= 1  # the block under way; no block starts after it
    assert max(seen) < 4
    assert widget._status.value.startswith("Cancelled")
    assert np.array_equal(np.asarray(only_labels(viewer).data), before)
    assert len([lay for lay in viewer.layers if isinstance(lay, Labels)]) == 1


def test_scratch_labels_leave_no_file_behind(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    labels = _big.scratch_labels((64, 32))
    labels[3, 4] = 7
    assert labels.dtype == np.uint32 and labels.shape == (64, 32) and labels.sum() == 7
    assert list(tmp_path.iterdir()) == []  # unlinked at once; the mapping lives on
