"""Post-processing of big maps block by block in threads: the same nuclei as in one piece."""

from __future__ import annotations

import numpy as np
import pytest
from test_blocks import best_iou

from napari_unet_nuclei import _api, _label_blocks, predict
from napari_unet_nuclei._label_blocks import labels_in_blocks, peaks_in_blocks, use_blocks
from napari_unet_nuclei._postprocess import labels_from_maps, seed_peaks
from napari_unet_nuclei._synthetic import synthetic_nuclei


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 256 px, two threads, and 'big' from 100,000 pixels on."""
    monkeypatch.setattr(_label_blocks, "BLOCK", 256)
    monkeypatch.setattr(_label_blocks, "WORKERS", 2)
    monkeypatch.setattr(_label_blocks, "PARALLEL_PIXELS", 100_000)


@pytest.fixture(scope="module")
def maps() -> _api.Prediction:
    return predict(synthetic_nuclei((700, 900), seed=8)[0], "cpu", diameter=None)


def test_block_seeds_and_labels_equal_the_whole_maps(small_blocks, maps):
    fg, dist = maps.foreground, maps.distance
    for step in (1, 2):
        assert np.array_equal(peaks_in_blocks(dist, 16.0, step), seed_peaks(dist, step=step))
    peaks = seed_peaks(dist)
    whole = labels_from_maps(fg, dist, 0.5, True, 20, peaks)
    blocked = labels_in_blocks(fg, dist, 0.5, True, 20, peaks, 16.0)
    assert blocked.dtype == whole.dtype and blocked.max() == whole.max() > 300
    assert np.array_equal(blocked > 0, whole > 0)
    assert best_iou(whole, blocked).min() == 1.0 and best_iou(blocked, whole).min() == 1.0


def test_predictions_use_blocks_only_when_big_and_the_size_is_known(small_blocks, monkeypatch):
    assert use_blocks((700, 900), 16.0) and not use_blocks((700, 900), None)
    assert not use_blocks((300, 300), 16.0)
    calls = []
    real = _label_blocks.labels_in_blocks

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_api, "labels_in_blocks", counted)
    image = synthetic_nuclei((700, 900), seed=8)[0]
    known = predict(image, "cpu")  # diameter auto: the size is measured first
    assert known.expected_diameter is not None and calls
    calls.clear()
    unknown = predict(image, "cpu", diameter=None)
    unknown.labels(0.6)
    assert not calls
    assert best_iou(unknown.labels(), known.labels()).mean() > 0.9
