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


def he_eosin_rich(seed: int = 0, eosin: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """(H&E image, labels): haematoxylin nuclei in eosin-stained tissue (``hed2rgb``), uint8.

    ``eosin``: the mean eosin amount (``_normalize.EOSIN_RICH`` is the cut), varying
    smoothly from 0.2x to 1.8x over the tissue: the darker stroma looks like nuclei once
    averaged to grey.
    """
    from scipy import ndimage as ndi
    from skimage.color import hed2rgb

    from napari_unet_nuclei._sample_data import synthetic_nuclei

    _, labels = synthetic_nuclei((200, 240), seed=seed)
    rng = np.random.default_rng(seed)
    h = np.where(labels > 0, 0.25, 0.0) + rng.normal(0, 0.005, labels.shape)
    field = ndi.gaussian_filter(rng.random(labels.shape), 12)
    field = (field - field.min()) / (field.max() - field.min())
    e = eosin * (0.2 + 1.6 * field) + rng.normal(0, 0.005, labels.shape)
    rgb = hed2rgb(np.stack([h, e, np.zeros_like(h)], axis=-1))
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8), labels
