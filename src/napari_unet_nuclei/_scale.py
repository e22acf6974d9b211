"""Nucleus size: estimate the typical diameter and resample images to the model's scale.

The diameter of a nucleus is measured as twice the largest distance from its inside to
the background (for a disk, its diameter; for an ellipse, its minor axis). The same
measure is used on the training labels, so estimates and the model's scale agree.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

MIN_OBJECTS = 1
# Judging size readings taken at halving scales (sizes relative to the model's nucleus size):
FIT_RANGE = (0.5, 2.5)  # a reading is usable when its nuclei are this big on the pass's grid
COARSE_MIN = 0.3  # the coarser reading of a pair must still see nuclei at least this big
AGREE = (0.8, 1.6)  # coarser / finer diameter when both passes saw the same nuclei
GRID_BIAS = 0.0625  # nuclei measure about 1 px too big on a 16 px model's grid


def diameters(labels: np.ndarray, foreground: np.ndarray | None = None) -> np.ndarray:
    """Per object, twice its largest inside distance to the background (float pixels).

    Distances are not taken to the image's edge: a nucleus cut by it is not measured as its
    visible piece. With ``foreground`` given, distances are taken in that mask, so pieces of
    an over-split nucleus still measure the whole nucleus.
    """
    mask = labels > 0 if foreground is None else np.asarray(foreground, bool)
    if not mask.any():
        return np.zeros(0)
    if mask.all():  # no boundary anywhere: the image's edge counts as one
        edt = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    else:  # a nucleus cut by the edge measures as its part inside (cut in half: whole)
        edt = ndi.distance_transform_edt(mask)
    inside = np.flatnonzero(labels)
    peaks = np.zeros(int(labels.max()) + 1)
    # per-label maximum; much faster than ndi.maximum, which sorts
    np.maximum.at(peaks, labels.ravel()[inside], edt.ravel()[inside])
    return 2.0 * peaks[peaks > 0]


def typical_diameter(labels: np.ndarray, foreground: np.ndarray | None = None) -> float | None:
    """The median diameter, or None with fewer than ``MIN_OBJECTS`` objects."""
    d = diameters(labels, foreground)
    return float(np.median(d)) if d.size >= MIN_OBJECTS else None


def resize(image, shape: tuple[int, int]):
    """Bilinear resampling of a 2D or (C, H, W) float array (anti-aliased when shrinking).

    A tensor is resampled on its device and stays a tensor; anything else gives numpy.
    """
    tensor = isinstance(image, torch.Tensor)
    arr = image.float() if tensor else np.asarray(image, np.float32)
    t = arr if tensor else torch.from_numpy(np.ascontiguousarray(arr))
    t = t[None, None] if arr.ndim == 2 else t[None]
    shrink = shape[0] < arr.shape[-2] or shape[1] < arr.shape[-1]
    out = F.interpolate(
        t, size=tuple(shape), mode="bilinear", align_corners=False, antialias=shrink
    )
    out = out[0, 0] if arr.ndim == 2 else out[0]
    return out if tensor else out.numpy()


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling of instance labels (ids and dtype kept)."""
    arr = np.asarray(labels)
    (h, w), (rows_in, cols_in) = shape, arr.shape[:2]
    rows = np.minimum(((np.arange(h) + 0.5) * (rows_in / h)).astype(np.intp), rows_in - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * (cols_in / w)).astype(np.intp), cols_in - 1)
    return arr[rows[:, None], cols[None, :]]


def scaled_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """The shape of an image resampled by ``factor`` (at least 1x1)."""
    return max(1, int(round(shape[0] * factor))), max(1, int(round(shape[1] * factor)))


Reading = tuple[float, float | None]  # (scale of the pass, diameter measured, image px)


def agree(fine: Reading, coarse: Reading, model_diameter: float) -> bool:
    """The coarser pass predicted by the finer one: same nuclei, still visible there."""
    (s, d), (s2, d2) = fine, coarse
    if d is None or d2 is None:
        return False
    fits = FIT_RANGE[0] <= d * s / model_diameter <= FIT_RANGE[1]
    visible = d2 * s2 >= COARSE_MIN * model_diameter
    return fits and visible and AGREE[0] <= d2 / d <= AGREE[1]


def agreeing_pairs(
    readings: list[Reading], model_diameter: float, merged: AbstractSet[float] = frozenset()
) -> list[tuple[Reading, Reading]]:
    """Successive readings (finer, coarser) that ``agree``, the finer not one of ``merged``.

    ``merged`` holds the scales of passes that joined separate nuclei into clumps: such a
    pass may confirm a finer one, but its own objects are not nuclei.
    """
    pairs = zip(readings, readings[1:], strict=False)
    return [(a, b) for a, b in pairs if a[0] not in merged and agree(a, b, model_diameter)]


def consistent_diameter(
    readings: list[Reading], model_diameter: float, merged: AbstractSet[float] = frozenset()
) -> float | None:
    """The nucleus diameter on which successive passes (scales halving) agree.

    Texture cut into pieces at one scale measures differently at the next, real nuclei do
    not. Of the agreeing pairs, the one whose finer pass saw nuclei nearest the model's size
    gives the diameter (that pass's reading, less the measure's bias). Without any, the
    reading nearest the model's size (or None without readings). Readings of ``merged``
    scales (clumps of nuclei) give no diameter.
    """
    pairs = agreeing_pairs(readings, model_diameter, merged)
    if pairs:
        s, d = min((p[0] for p in pairs), key=lambda r: abs(np.log(r[0] * r[1] / model_diameter)))
        return d - GRID_BIAS * model_diameter / s
    seen = [(s, d) for s, d in readings if d is not None and s not in merged]
    if not seen:
        return None
    return min(seen, key=lambda r: abs(np.log(r[0] * r[1] / model_diameter)))[1]
