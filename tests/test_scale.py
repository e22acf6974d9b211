"""Nucleus size: estimates, resampling and the same result at any magnification."""

import numpy as np
import pytest

from napari_unet_nuclei import predict
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._scale import diameters, resize, scaled_shape, typical_diameter


def _disk_labels(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[:100, :100]
    labels = np.zeros((100, 100), np.uint16)
    for i, (cy, cx) in enumerate([(25, 25), (25, 75), (75, 50)], 1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = i
    return labels


@pytest.mark.parametrize("radius", [5, 10, 20])
def test_diameter_of_disks(radius):
    assert typical_diameter(_disk_labels(radius)) == pytest.approx(2 * radius, rel=0.1)


def test_over_split_nucleus_still_measures_whole():
    labels = _disk_labels(20)
    pieces = labels.copy()
    pieces[(labels == 1) & (np.arange(100)[None, :] > 25)] = 9  # cut nucleus 1 in two
    d = diameters(pieces, labels > 0)
    assert d.max() == pytest.approx(40, rel=0.1) and np.sort(d)[1] > 30


def test_nucleus_cut_by_the_image_edge_measures_whole():
    labels = _disk_labels(20)
    whole = diameters(labels)
    cut = diameters(labels[25:, :])  # nuclei 1 and 2 cut through their middles by the edge
    assert cut == pytest.approx(whole, rel=0.05)
    assert diameters(labels[35:, :])[0] < 0.9 * whole[0]  # cut beyond the middle: its part


def test_all_foreground_image_is_bounded_by_its_edge():
    d = diameters(np.ones((10, 30), np.uint16))
    assert d == pytest.approx([10.0])


def test_too_few_objects_give_no_estimate():
    assert typical_diameter(np.zeros((10, 10), np.uint16)) is None


def test_resize_round_trip():
    img = np.random.default_rng(0).random((40, 60)).astype(np.float32)
    assert resize(img, (80, 120)).shape == (80, 120)
    assert resize(np.stack([img, img]), (20, 30)).shape == (2, 20, 30)
    assert scaled_shape((3, 500), 0.1) == (1, 50)


def test_fixed_diameter_resamples(tiny_weights):
    img = synthetic_nuclei((64, 64), seed=0)[0]
    pred = predict(img, device="cpu", weights=tiny_weights, diameter=30.0)
    assert pred.foreground.shape == (64, 64)
    assert pred.info["scale"] == pytest.approx(pred.info["model_diameter"] / 30.0)
    with pytest.raises(ValueError, match="diameter"):
        predict(img, device="cpu", weights=tiny_weights, diameter=-3)
