"""``Prediction``: cached maps re-labelled without the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet_nuclei import NucleusModel, predict
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


@pytest.fixture
def maps_stay(monkeypatch):
    """The engine keeps its maps as tensors, as on an accelerator (here: CPU tensors)."""
    from napari_unet_nuclei import _engine

    monkeypatch.setattr(_engine, "keeps_maps", lambda device: True)


@pytest.mark.parametrize("diameter", ["auto", 24.0])
def test_maps_kept_as_tensors_give_the_same_labels_and_relabels(
    tiny_weights, synthetic, maps_stay, diameter
):
    model = NucleusModel(tiny_weights, "cpu")
    seg = model.segment(synthetic[0], diameter=diameter)
    pred = seg.prediction
    assert pred.on_device and isinstance(pred.foreground, torch.Tensor)
    assert isinstance(pred.peaks, torch.Tensor)
    host = Prediction(pred.foreground.numpy(), pred.distance.numpy(), **_same_settings(pred))
    np.testing.assert_array_equal(seg.labels, host.labels())
    assert seg.labels.max() > 5 and seg.diameter == pytest.approx(host.info["diameter"])
    for t, split in ((0.3, True), (0.6, False)):  # the sliders
        np.testing.assert_array_equal(pred.labels(t, split), host.labels(t, split))


def _same_settings(pred: Prediction) -> dict:
    from napari_unet_nuclei._estimate import measured_diameter

    host = Prediction(pred.foreground.numpy(), pred.distance.numpy())
    host.expected_diameter, host.image_shape = pred.expected_diameter, pred.image_shape
    host.info["diameter"] = measured_diameter(host)
    return dict(
        expected_diameter=pred.expected_diameter, image_shape=pred.image_shape, info=host.info
    )


def test_big_maps_on_a_device_are_labelled_whole_not_in_blocks():
    fg, dist = np.zeros((2, 4000, 2100), np.float32)
    on_host = Prediction(fg, dist, expected_diameter=16.0, block_threads=2)
    on_device = Prediction(torch.from_numpy(fg), torch.from_numpy(dist), 16.0, block_threads=2)
    assert on_host._in_blocks and not on_device._in_blocks


def test_on_host_gives_numpy_maps_and_the_same_labels(tiny_weights, synthetic, maps_stay):
    pred = NucleusModel(tiny_weights, "cpu").predict(synthetic[0])
    host = pred.on_host()
    assert pred.on_device and not host.on_device and host.on_host() is host
    assert isinstance(host.foreground, np.ndarray) and isinstance(host.distance, np.ndarray)
    np.testing.assert_array_equal(host.labels(0.5), pred.labels(0.5))


def test_the_public_predict_gives_numpy_maps_wherever_they_were_made(
    tiny_weights, synthetic, maps_stay
):
    pred = predict(synthetic[0], device="cpu", weights=tiny_weights)
    assert isinstance(pred.foreground, np.ndarray) and isinstance(pred.distance, np.ndarray)
