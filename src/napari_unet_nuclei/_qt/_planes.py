"""Planes of image layers: which plane is on screen, its pixels, and the stack's axes."""

from __future__ import annotations

import numpy as np
from napari.layers import Image

from .._stack import guess_axes


def layer_pixels(layer: Image):  # noqa: ANN201 (numpy, dask, zarr ... as the layer holds it)
    """The layer's full-resolution data (level 0 when multiscale), not loaded into memory."""
    return layer.data[0] if layer.multiscale else layer.data


def spatial_shape(layer: Image) -> tuple[int, ...]:
    """The layer's shape without the RGB colour axis: the shape its labels have."""
    shape = tuple(layer_pixels(layer).shape)
    return shape[:-1] if layer.rgb else shape


def image_plane(layer: Image, plane: tuple[int, ...] = ()) -> np.ndarray:
    """Return the 2D (grey or RGB) pixels at ``plane`` (leading indices of a stack, () for 2D)."""
    if layer.ndim - len(plane) != 2:
        raise ValueError(
            f"'{layer.name}' has {layer.ndim} dimensions: give the index of one 2D plane of it."
        )
    return np.asarray(layer_pixels(layer)[tuple(plane)])


def plane_index(layer: Image, world_point: tuple[float, ...]) -> tuple[int, ...]:
    """Leading indices of the plane of ``layer`` shown at the viewer's ``world_point``."""
    lead = np.asarray(layer.world_to_data(world_point))[: layer.ndim - 2]
    top = np.asarray(spatial_shape(layer)[: layer.ndim - 2]) - 1
    return tuple(int(i) for i in np.clip(np.round(lead), 0, top))


def stack_axes(layer: Image) -> tuple[str, str]:
    """Axes for ``NucleusModel.segment`` (leading axes are planes); a note if that is a guess."""
    n_lead = layer.ndim - 2
    if n_lead > 2:
        raise ValueError(
            f"'{layer.name}' has {layer.ndim} dimensions; Whole stack handles up "
            "to 4 (T, Z, Y, X). Use Current plane, or split the stack first."
        )
    axes = "TZ"[2 - n_lead :] + "YX" + ("C" if layer.rgb else "")
    guess = guess_axes(tuple(layer_pixels(layer).shape), rgb=bool(layer.rgb))
    note = (
        f"axes unclear ({guess.reason}); each leading axis is segmented as planes"
        if guess.ambiguous
        else ""
    )
    return axes, note


def plane_text(plane: tuple[int, ...]) -> str:
    """`` (plane 3)`` / `` (plane 1, 4)`` for a stack plane; nothing for a 2D image."""
    return f" (plane {', '.join(map(str, plane))})" if plane else ""
