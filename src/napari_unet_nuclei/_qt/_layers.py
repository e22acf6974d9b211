"""The nuclei Labels layer of an image layer: its name, finding it, filling it.

Adding a Labels layer is the slow part of showing one, so a run adds an empty layer when
it starts and its result replaces the layer's data; the labels and their measurements are
made in the worker. napari imports pandas when the first layer is added: it is imported
here, with the widget, rather than in the middle of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas  # noqa: F401  (see above)
from napari.layers import Image, Labels

from .._measure import as_features, measure_nuclei
from ._planes import image_plane, spatial_shape
from ._run import Labelled

if TYPE_CHECKING:
    from collections.abc import Sequence

    import napari

    from .._prediction import Segmentation


def result_name(layer: Image) -> str:
    """Return the name of the Labels layer that holds the nuclei of ``layer``."""
    return f"{layer.name} nuclei"


def find_result(viewer: napari.viewer.Viewer, source: Image) -> Labels | None:
    """Return the existing ``"<image> nuclei"`` Labels layer, if there is one."""
    name = result_name(source)
    found = [lay for lay in viewer.layers if isinstance(lay, Labels) and lay.name == name]
    return found[0] if found else None


def show_labels(
    viewer: napari.viewer.Viewer, source: Image, labels: np.ndarray, features: dict
) -> None:
    """Put ``labels`` in the image's nuclei layer (added once, then updated in place)."""
    layer = find_result(viewer, source)
    if layer is None:
        viewer.add_labels(
            labels,
            name=result_name(source),
            scale=source.scale,
            translate=source.translate,
            features=features,
        )
        return
    layer.data = labels
    if not (
        np.array_equal(layer.scale, source.scale)
        and np.array_equal(layer.translate, source.translate)
    ):
        layer.scale, layer.translate = source.scale, source.translate
    layer.features = features


def placeholder_result(viewer: napari.viewer.Viewer, source: Image) -> Labels | None:
    """Add an empty nuclei layer for ``source`` before a run; None when it already has one.

    uint16, as most labels are: napari shows them without a cast (uint32 needs one).
    """
    if find_result(viewer, source) is not None:
        return None
    return viewer.add_labels(
        np.zeros(spatial_shape(source), np.uint16),
        name=result_name(source),
        scale=source.scale,
        translate=source.translate,
    )


def remove_placeholder(viewer: napari.viewer.Viewer, layer: Labels | None) -> None:
    """Remove the empty layer a run added, when the run had nothing to show."""
    if layer is not None and layer in viewer.layers and not np.any(layer.data):
        viewer.layers.remove(layer)


def label_and_measure(
    segmentation: Segmentation,
    settings: tuple[float, bool, int],
    image: np.ndarray,
    scale: Sequence[float],
    translate: Sequence[float],
) -> Labelled:
    """The labels of ``segmentation`` (made at ``settings``) and their measurements (worker)."""
    labels = segmentation.labels
    return Labelled(settings, labels, measure_nuclei(labels, image, scale, translate))


def merge_plane(
    layer: Labels | None, shape: tuple[int, ...], labels: np.ndarray, plane: tuple[int, ...]
) -> np.ndarray:
    """The stack's labels (uint32, ``shape``) with ``plane`` replaced; the others kept."""
    data = None if layer is None else layer.data
    if not (isinstance(data, np.ndarray) and data.shape == shape):
        data = np.zeros(shape, np.uint32)
    elif data.dtype != np.uint32 or not data.flags.writeable:
        data = data.astype(np.uint32)
    data[plane] = labels
    return data


def show_plane_labels(
    viewer: napari.viewer.Viewer,
    source: Image,
    plane: tuple[int, ...],
    labels: np.ndarray,
    table: dict | None = None,
) -> int:
    """Show the labels of one plane of ``source`` (the image for 2D) with their measurements.

    ``table``: the measurements when already made. The other planes of a stack keep their
    labels. Returns the number of nuclei.
    """
    if table is None:
        table = measure_nuclei(
            labels, image_plane(source, plane), source.scale[-2:], source.translate[-2:]
        )
    if plane:
        labels = merge_plane(find_result(viewer, source), spatial_shape(source), labels, plane)
    show_labels(viewer, source, labels, as_features(table))
    return len(table["label"])
