"""Post-processing of big maps block by block in threads: the same nuclei as in one piece."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import best_iou
from scipy import ndimage as ndi

from napari_unet_nuclei import Prediction, _prediction
from napari_unet_nuclei._dataset import normalized_distance
from napari_unet_nuclei._label_blocks import (
    PARALLEL_PIXELS,
    labels_in_blocks,
    peaks_in_blocks,
    use_blocks,
)
from napari_unet_nuclei._postprocess import labels_from_maps, seed_peaks
from napari_unet_nuclei._synthetic import synthetic_nuclei


@pytest.fixture(scope="module")
def maps() -> Prediction:
    """Nucleus-like maps made without a network: the true ones, blurred, with some noise.

    As a trained network's, the distance falls to about 0 between nuclei, so each seed
    depends on its own nucleus only. (A random network's distance map stays near 0.4
    everywhere: its seeds depend on saddles far away, beyond any block's margin.)
    """
    _, truth = synthetic_nuclei((700, 900), seed=8)
    noise = np.random.default_rng(8).normal(0, 0.02, (2, *truth.shape))
    exact = np.stack([(truth > 0).astype(np.float32), normalized_distance(truth)])
    fg, dist = np.clip(ndi.gaussian_filter(exact, (0, 1.5, 1.5)) + noise, 0, 1)
    return Prediction(fg.astype(np.float32), dist.astype(np.float32))


def test_block_seeds_and_labels_equal_the_whole_maps(maps):
    """Blocks of 256 px in two threads give the labels of the maps in one piece."""
    fg, dist = maps.foreground, maps.distance
    for step in (1, 2):
        blocked_peaks = peaks_in_blocks(dist, 16.0, step, workers=2, block=256)
        assert np.array_equal(blocked_peaks, seed_peaks(dist, step=step))
    peaks = seed_peaks(dist)
    whole = labels_from_maps(fg, dist, 0.5, True, 20, peaks)
    blocked = labels_in_blocks(fg, dist, 0.5, True, 20, peaks, 16.0, workers=2, block=256)
    assert blocked.dtype == whole.dtype and blocked.max() == whole.max() > 300
    assert np.array_equal(blocked > 0, whole > 0)
    assert best_iou(whole, blocked).min() == 1.0 and best_iou(blocked, whole).min() == 1.0


@pytest.mark.slow  # labels 10 MP of maps three times
def test_predictions_use_blocks_only_when_big_and_the_size_is_known(maps, monkeypatch):
    assert use_blocks((4000, 4000), 16.0, 2) and not use_blocks((4000, 4000), None, 2)
    assert not use_blocks((300, 300), 16.0, 2) and not use_blocks((4000, 4000), 16.0, 1)
    calls = []
    real = _prediction.labels_in_blocks

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_prediction, "labels_in_blocks", counted)
    reps = (4, 4)  # 2800 x 3600 maps: past PARALLEL_PIXELS
    fg, dist = np.tile(maps.foreground, reps), np.tile(maps.distance, reps)
    assert fg.size > PARALLEL_PIXELS
    known = Prediction(fg, dist, expected_diameter=16.0, workers=2)
    assert known.labels().max() > 4000 and calls
    calls.clear()
    unknown = Prediction(fg, dist, workers=2)
    unknown.labels(0.6)
    assert not calls
    one_thread = Prediction(fg, dist, expected_diameter=16.0, workers=1)
    assert best_iou(one_thread.labels(), known.labels()).min() == 1.0 and not calls
