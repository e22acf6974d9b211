"""Nucleus size: estimate the typical diameter and resample images to the model's scale.

The diameter of a nucleus is measured as twice the largest distance from its inside to
the background (for a disk, its diameter; for an ellipse, its minor axis). The same
measure is used on the training labels, so estimates and the model's scale agree.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

MIN_OBJECTS = 1


def diameters(labels: np.ndarray, foreground: np.ndarray | None = None) -> np.ndarray:
    """Per object, twice its largest inside distance to the background (float pixels).

    With ``foreground`` given, distances are taken in that mask, so pieces of an
    over-split nucleus still measure the whole nucleus.
    """
    mask = labels > 0 if foreground is None else np.asarray(foreground, bool)
    if not mask.any():
        return np.zeros(0)
    edt = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    inside = np.flatnonzero(labels)
    peaks = np.zeros(int(labels.max()) + 1)
    # per-label maximum; an order of magnitude faster than ndi.maximum, which sorts
    np.maximum.at(peaks, labels.ravel()[inside], edt.ravel()[inside])
    return 2.0 * peaks[peaks > 0]


def typical_diameter(labels: np.ndarray, foreground: np.ndarray | None = None) -> float | None:
    """The median diameter, or None with fewer than ``MIN_OBJECTS`` objects."""
    d = diameters(labels, foreground)
    return float(np.median(d)) if d.size >= MIN_OBJECTS else None


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of a 2D or (C, H, W) float array (anti-aliased when shrinking)."""
    arr = np.asarray(image, np.float32)
    t = torch.from_numpy(np.ascontiguousarray(arr))
    t = t[None, None] if arr.ndim == 2 else t[None]
    shrink = shape[0] < arr.shape[-2] or shape[1] < arr.shape[-1]
    out = F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False,
                        antialias=shrink)
    return out[0, 0].numpy() if arr.ndim == 2 else out[0].numpy()


def scaled_shape(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """The shape of an image resampled by ``factor`` (at least 1x1)."""
    return max(1, int(round(shape[0] * factor))), max(1, int(round(shape[1] * factor)))
