"""The sample data: offline, deterministic, touching nuclei, small."""

from __future__ import annotations

import numpy as np

from napari_unet_nuclei._sample_data import SAMPLE_SHAPE, make_sample_data, synthetic_sample


def test_sample_is_one_uint16_image_layer():
    layers = make_sample_data()
    assert len(layers) == 1
    data, meta, kind = layers[0]
    assert kind == "image"
    assert data.shape == SAMPLE_SHAPE and data.dtype == np.uint16
    assert meta["name"] == "Synthetic nuclei"
    low, high = meta["contrast_limits"]
    assert data.min() <= low < high <= data.max()


def test_sample_is_deterministic_and_varied():
    (a, labels), (b, _) = synthetic_sample(), synthetic_sample()
    assert np.array_equal(a, b)
    areas = np.bincount(labels.ravel())[1:]
    assert labels.max() > 50
    assert areas.max() > 2 * areas.min()  # varied sizes


def test_sample_has_touching_nuclei():
    _, labels = synthetic_sample()
    right, down = labels[:, 1:] != labels[:, :-1], labels[1:] != labels[:-1]
    touching = ((labels[:, 1:] > 0) & (labels[:, :-1] > 0) & right).any() or (
        (labels[1:] > 0) & (labels[:-1] > 0) & down
    ).any()
    assert touching


def test_sample_has_noise():
    image, labels = synthetic_sample()
    background = image[labels == 0].astype(float)
    assert background.std() > 1.0
