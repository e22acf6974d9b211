"""Nucleus size: estimates, resampling and the same result at any magnification."""

import numpy as np
import pytest

from napari_unet_nuclei import predict
from napari_unet_nuclei._scale import diameters, resize, scaled_shape, typical_diameter
from napari_unet_nuclei._synthetic import synthetic_nuclei


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


def test_too_few_objects_give_no_estimate():
    assert typical_diameter(np.zeros((10, 10), np.uint16)) is None


def test_resize_round_trip():
    img = np.random.default_rng(0).random((40, 60)).astype(np.float32)
    assert resize(img, (80, 120)).shape == (80, 120)
    assert resize(np.stack([img, img]), (20, 30)).shape == (2, 20, 30)
    assert scaled_shape((3, 500), 0.1) == (1, 50)


def test_fixed_diameter_resamples(tiny_weights):
    img = synthetic_nuclei((64, 64), seed=0)[0]
    pred = predict(img, "cpu", tiny_weights, diameter=30.0)
    assert pred.foreground.shape == (64, 64)
    assert pred.info["scale"] == pytest.approx(pred.info["model_diameter"] / 30.0)
    with pytest.raises(ValueError, match="diameter"):
        predict(img, "cpu", tiny_weights, diameter=-3)


@pytest.mark.slow
def test_same_nuclei_at_any_magnification():
    """Issue 6: 0.5x..3x give the same count within 5 %, diameter follows the factor within 15 %."""
    image, gt = synthetic_nuclei((320, 320), radius=(9.0, 13.0), touching=0.2, seed=11)
    results = {}
    for factor in (0.5, 1.0, 2.0, 3.0):
        shape = scaled_shape(image.shape, factor)
        scaled = resize(image.astype(np.float32), shape)
        pred = predict(scaled, "cpu", diameter="auto")
        results[factor] = (int(pred.labels().max()), pred.diameter)
    count1, d1 = results[1.0]
    for factor, (count, d) in results.items():
        assert abs(count - count1) <= 0.05 * count1, results
        assert d / d1 == pytest.approx(factor, rel=0.15), results


def test_auto_finds_nuclei_far_larger_than_the_model_size():
    """Two touching 60 px disks: the full-scale pass misses them, a smaller pass finds them."""
    yy, xx = np.mgrid[:192, :256]
    image = np.full((192, 256), 100.0)
    for cx in (96, 158):
        image[(yy - 96) ** 2 + (xx - cx) ** 2 <= 32**2] = 900.0
    image += np.random.default_rng(0).normal(0, 10, image.shape)
    pred = predict(image, "cpu", diameter="auto")
    assert pred.info["scale"] < 0.5
    assert pred.labels().max() == 2
    assert pred.diameter == pytest.approx(64, rel=0.15)
