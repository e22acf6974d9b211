"""Probability maps + threshold -> instance labels. Pure numpy-in, numpy-out."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

DEFAULT_THRESHOLD = 0.5
DEFAULT_SEED_THRESHOLD = 0.5
DEFAULT_MIN_SIZE = 10


def label_dtype(n_labels: int) -> type:
    """uint16 while the ids fit, else uint32."""
    return np.uint16 if n_labels <= np.iinfo(np.uint16).max else np.uint32


def relabel_sequential(labels: np.ndarray, min_size: int = 0) -> np.ndarray:
    """Drop objects smaller than ``min_size`` pixels; ids become 1..N in a compact dtype."""
    counts = np.bincount(labels.ravel())
    keep = counts >= max(min_size, 1)
    keep[0] = False
    lut = np.zeros(counts.size, np.int64)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    return lut[labels].astype(label_dtype(int(keep.sum())))


def split_touching(mask: np.ndarray, distance: np.ndarray,
                   seed_threshold: float = DEFAULT_SEED_THRESHOLD) -> np.ndarray:
    """Watershed of the foreground mask seeded by the distance map's cores.

    Components that hold no seed keep one label each, so no foreground is lost.
    """
    components, n = ndi.label(mask)
    seeds, n_seeds = ndi.label(mask & (distance > seed_threshold))
    per_component = np.bincount(components[seeds > 0], minlength=n + 1)
    multi = per_component > 1
    multi[0] = False
    out = components.astype(np.int64)
    if not multi.any():
        return out
    # Only components with two or more seeds need the watershed.
    region = multi[components]
    split = watershed(-distance, np.where(region, seeds, 0), mask=region)
    out[region] = split[region] + n
    return out


def labels_from_maps(foreground: np.ndarray, distance: np.ndarray,
                     threshold: float = DEFAULT_THRESHOLD, split: bool = True,
                     min_size: int = DEFAULT_MIN_SIZE,
                     seed_threshold: float = DEFAULT_SEED_THRESHOLD) -> np.ndarray:
    """Threshold the foreground; optionally split touching nuclei; consecutive ids."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if foreground.shape != distance.shape:
        raise ValueError(f"map shapes differ: {foreground.shape} vs {distance.shape}")
    mask = np.asarray(foreground) > threshold
    if split:
        labels = split_touching(mask, np.asarray(distance), seed_threshold)
    else:
        labels = ndi.label(mask)[0]
    return relabel_sequential(labels, min_size)
