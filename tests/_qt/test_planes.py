"""The pixels of an image layer's plane (``_qt/_planes.py``).

Every image data type through the widget: a Labels layer of the image's shape, no error.
"""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_unet_nuclei import segment_nuclei
from napari_unet_nuclei._sample_data import synthetic_sample

from ._helpers import n_labels, only_labels, run_and_wait

SHAPE = (128, 96)


DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "float16",
    "float32",
    "float64",
]


def _image(kind: str) -> np.ndarray:
    """The synthetic sample in ``kind``: spread over the type's range (ints), 0..1 (floats)."""
    base = synthetic_sample(SHAPE)[0].astype(np.float64)
    unit = (base - base.min()) / (base.max() - base.min())
    if kind == "bool":
        return unit > np.percentile(unit, 70)
    if kind == "constant":
        return np.full(SHAPE, 7, np.uint16)
    if kind == "nan-inf":
        out = unit.astype(np.float32)
        out[::17, ::13], out[5::29, ::31], out[7::23, ::19] = np.nan, np.inf, -np.inf
        return out
    dtype = np.dtype(kind)
    if dtype.kind == "f":
        return unit.astype(dtype)
    info = np.iinfo(dtype)
    low, high = max(info.min, -(2**40)), min(info.max, 2**40)
    return (low + unit * (high - low)).astype(dtype)


def _errors() -> list[str]:
    return [
        n.message for n in notification_manager.records if n.severity >= NotificationSeverity.ERROR
    ]


@pytest.mark.parametrize("kind", [*DTYPES, "nan-inf", "constant"])
def test_every_dtype_gives_labels_of_the_image_shape(
    qtbot, make_napari_viewer, new_widget, tiny_weights, kind
):
    image = _image(kind)
    assert image.dtype == (
        np.float32 if kind == "nan-inf" else np.uint16 if kind == "constant" else np.dtype(kind)
    )
    viewer = make_napari_viewer()
    viewer.add_image(image, name="cells")
    widget = new_widget(viewer)
    errors = len(_errors())
    run_and_wait(qtbot, widget)
    assert _errors()[errors:] == []
    layer = only_labels(viewer)
    assert layer.data.shape == SHAPE and layer.name == "cells nuclei"
    found = n_labels(layer)
    assert widget._status.value.startswith(f"{found} nuclei · ")
    if kind == "constant":
        assert found == 0  # nothing to find, and no error: the network is not even run
    else:  # the labels the engine gives this very array
        expected = segment_nuclei(image, device="cpu", weights=tiny_weights)
        assert found > 0 and np.array_equal(np.asarray(layer.data), expected)
    assert len(layer.features) == found
