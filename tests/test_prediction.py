"""``Prediction``: cached maps re-labelled without the network."""

from __future__ import annotations

import numpy as np

from napari_unet_nuclei import predict
from napari_unet_nuclei._prediction import Prediction
from napari_unet_nuclei.training.dataset import targets


def test_labels_are_fresh_arrays_even_when_cached(tiny_weights, synthetic):
    pred = predict(synthetic[0][:64, :64], device="cpu", weights=tiny_weights, diameter=None)
    a = pred.labels(0.3)
    a[:] = 7
    b = pred.labels(0.3)
    assert not (b == 7).all()


def _touching_disks(grid: int) -> np.ndarray:
    """Four touching disks of diameter 5 * grid px in a row (5 px each at grid 1)."""
    yy, xx = np.mgrid[: 12 * grid, : 24 * grid] + 0.5
    labels = np.zeros(yy.shape, np.int32)
    for i in range(4):
        cy, cx = 6 * grid, (3.5 + 4.6 * i) * grid
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= (2.5 * grid) ** 2] = i + 1
    return labels


def test_maps_on_a_finer_grid_are_labelled_there():
    """Nuclei of 5 px: on a 3x grid each keeps its seed and its size; on the image's own
    grid they fall under the minimum size (20 px) or share a seed."""
    fine = targets(_touching_disks(3))
    pred = Prediction(fine[0], fine[1], image_shape=(12, 24))
    assert pred.shape == (12, 24) and pred.grid == 3
    labels = pred.labels()
    assert labels.shape == (12, 24) and np.array_equal(np.unique(labels), np.arange(5))
    coarse = targets(_touching_disks(1))
    assert Prediction(coarse[0], coarse[1]).labels().max() < 4
