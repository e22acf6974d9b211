"""Helpers shared by several test modules (never import one test module from another)."""

from __future__ import annotations

import numpy as np
import tifffile


def best_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For every object of ``a`` (ids 1..N), its best IoU with an object of ``b``."""
    both = (a > 0) & (b > 0)
    base = int(b.max()) + 1
    keys, inter = np.unique(a[both].astype(np.int64) * base + b[both], return_counts=True)
    ai, bi = keys // base, keys % base
    union = np.bincount(a.ravel())[ai] + np.bincount(b.ravel())[bi] - inter
    best = np.zeros(int(a.max()) + 1)
    np.maximum.at(best, ai, inter / union)
    return best[1:]


def he_like(seed: int = 0) -> np.ndarray:
    """Purple nuclei on a pale pink background, as in H&E stains."""
    from napari_unet_nuclei._sample_data import synthetic_nuclei

    _, labels = synthetic_nuclei((200, 240), seed=seed)
    rng = np.random.default_rng(seed)
    out = np.where(labels[..., None] > 0, [110.0, 60.0, 150.0], [235.0, 205.0, 225.0])
    return np.clip(out + rng.normal(0, 6, out.shape), 0, 255).astype(np.uint8)


def earlier_output(path) -> bytes:
    """A label file as an earlier run of ours wrote it."""
    tifffile.imwrite(
        path, np.arange(64, dtype=np.uint32).reshape(8, 8), software="napari-unet-nuclei"
    )
    return path.read_bytes()
