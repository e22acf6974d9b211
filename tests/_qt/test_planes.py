"""The pixels of an image layer's plane (``_qt/_planes.py``).

Every image data type through the widget: a Labels layer of the image's shape, no error.
Without a viewer: the plane on screen, its pixels, the labels' shape, a stack's axes.
"""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Image
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_unet_nuclei import segment_nuclei
from napari_unet_nuclei._qt._planes import (
    image_plane,
    layer_pixels,
    plane_index,
    plane_text,
    spatial_shape,
    stack_axes,
)
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


FAMILIES = {  # one viewer per family: each kind in turn, as a user opening image after image
    "integers": [d for d in DTYPES if d.startswith(("int", "uint"))],
    "floats": [d for d in DTYPES if d.startswith("float")] + ["nan-inf"],
    "others": ["bool", "constant"],
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_dtype_gives_labels_of_the_image_shape(
    qtbot, make_napari_viewer, new_widget, tiny_weights, family
):
    assert sorted(k for kinds in FAMILIES.values() for k in kinds) == sorted(
        [*DTYPES, "nan-inf", "constant"]
    )
    viewer = make_napari_viewer()
    widget = new_widget(viewer)
    for kind in FAMILIES[family]:
        viewer.layers.clear()
        image = _image(kind)
        assert image.dtype == (
            np.float32 if kind == "nan-inf" else np.uint16 if kind == "constant" else np.dtype(kind)
        )
        viewer.add_image(image, name="cells")
        errors = len(_errors())
        run_and_wait(qtbot, widget)
        assert _errors()[errors:] == [], kind
        layer = only_labels(viewer)
        assert layer.data.shape == SHAPE and layer.name == "cells nuclei", kind
        found = n_labels(layer)
        assert widget._status.value.startswith(f"{found} nuclei · "), kind
        if kind == "constant":
            assert found == 0  # nothing to find, and no error: the network is not even run
        else:  # the labels the engine gives this very array
            expected = segment_nuclei(image, device="cpu", weights=tiny_weights)
            assert found > 0 and np.array_equal(np.asarray(layer.data), expected), kind
        assert len(layer.features) == found, kind


def test_the_plane_on_screen_follows_the_layer_scale_and_stays_inside():
    stack = Image(np.arange(3 * 4 * 5 * 3, dtype=np.uint8).reshape(3, 4, 5, 3), rgb=True)
    stack.scale = (2, 1, 1)  # planes 2 world units apart
    assert plane_index(stack, (4.2, 0, 0)) == (2,)
    assert plane_index(stack, (2.9, 0, 0)) == (1,)
    assert plane_index(stack, (40, 0, 0)) == (2,) and plane_index(stack, (-5, 0, 0)) == (0,)
    assert spatial_shape(stack) == (3, 4, 5)  # the labels' shape: no colour axis
    np.testing.assert_array_equal(image_plane(stack, (1,)), stack.data[1])
    with pytest.raises(ValueError, match="give the index of one 2D plane"):
        image_plane(stack)
    assert plane_text((1,)) == " (plane 1)" and plane_text((0, 4)) == " (plane 0, 4)"
    assert plane_text(()) == ""


def test_a_pyramid_is_read_at_full_resolution_and_stacks_get_their_axes():
    pyramid = Image([np.zeros((64, 48)), np.zeros((32, 24))], multiscale=True)
    assert layer_pixels(pyramid).shape == (64, 48) and spatial_shape(pyramid) == (64, 48)
    assert stack_axes(Image(np.zeros((4, 10, 32, 32))))[0] == "TZYX"
    assert stack_axes(Image(np.zeros((10, 32, 32, 3)), rgb=True))[0] == "ZYXC"
    with pytest.raises(ValueError, match="Whole stack handles up to 4"):
        stack_axes(Image(np.zeros((2, 2, 2, 32, 32))))
