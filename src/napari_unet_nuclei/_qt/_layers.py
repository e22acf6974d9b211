"""The nuclei Labels layer of an image layer: its name, finding it, filling it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image, Labels

from .._measure import as_features, measure_nuclei
from ._planes import image_plane, spatial_shape

if TYPE_CHECKING:
    import napari


def result_name(layer: Image) -> str:
    """Return the name of the Labels layer that holds the nuclei of ``layer``."""
    return f"{layer.name} nuclei"


def find_result(viewer: napari.viewer.Viewer, source: Image) -> Labels | None:
    """Return the existing ``"<image> nuclei"`` Labels layer, if there is one."""
    name = result_name(source)
    found = [lay for lay in viewer.layers if isinstance(lay, Labels) and lay.name == name]
    return found[0] if found else None


def show_labels(viewer: napari.viewer.Viewer, source: Image, labels: np.ndarray,
                features: dict) -> None:
    """Put ``labels`` in the image's nuclei layer (added once, then updated in place)."""
    layer = find_result(viewer, source)
    if layer is None:
        viewer.add_labels(labels, name=result_name(source), scale=source.scale,
                          translate=source.translate, features=features)
        return
    layer.data = labels
    if not (np.array_equal(layer.scale, source.scale)
            and np.array_equal(layer.translate, source.translate)):
        layer.scale, layer.translate = source.scale, source.translate
    layer.features = features


def merge_plane(layer: Labels | None, shape: tuple[int, ...], labels: np.ndarray,
                plane: tuple[int, ...]) -> np.ndarray:
    """The stack's labels (uint32, ``shape``) with ``plane`` replaced; the others kept."""
    data = None if layer is None else layer.data
    if not (isinstance(data, np.ndarray) and data.shape == shape):
        data = np.zeros(shape, np.uint32)
    elif data.dtype != np.uint32 or not data.flags.writeable:
        data = data.astype(np.uint32)
    data[plane] = labels
    return data


def show_plane_labels(viewer: napari.viewer.Viewer, source: Image, plane: tuple[int, ...],
                      labels: np.ndarray) -> int:
    """Show the labels of one plane of ``source`` (the image for 2D) with their measurements.

    The other planes of a stack keep their labels. Returns the number of nuclei.
    """
    table = measure_nuclei(labels, image_plane(source, plane), source.scale[-2:],
                           source.translate[-2:])
    if plane:
        labels = merge_plane(find_result(viewer, source), spatial_shape(source), labels, plane)
    show_labels(viewer, source, labels, as_features(table))
    return len(table["label"])
