"""Synthetic nuclei with ground truth, and napari's sample data made from them.

File > Open Sample > napari-unet-nuclei > Synthetic nuclei (2D). Made offline from a fixed
seed in milliseconds: no download, no data files. Tests, samples and benchmarks use it too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi


def _paint_ellipse(
    labels: np.ndarray, cy: float, cx: float, ry: float, rx: float, angle: float, value: int
) -> None:
    h, w = labels.shape
    r = int(np.ceil(max(ry, rx))) + 1
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, h)
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, w)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    inside = ((c * dy + s * dx) / ry) ** 2 + ((-s * dy + c * dx) / rx) ** 2 <= 1.0
    labels[y0:y1, x0:x1][inside & (labels[y0:y1, x0:x1] == 0)] = value


def synthetic_nuclei(
    shape: tuple[int, int] = (256, 256),
    n: int | None = None,
    radius: tuple[float, float] = (6.0, 12.0),
    touching: float = 0.3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(uint16 image, uint16 labels) of bright elliptical nuclei on a dark, noisy background.

    ``touching`` is the share of nuclei placed against a neighbour.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    mean_r = float(np.mean(radius))
    if n is None:
        n = max(1, int(0.25 * h * w / (np.pi * mean_r**2)))
    labels = np.zeros(shape, np.uint16)
    centres: list[tuple[float, float, float]] = []
    for value in range(1, n + 1):
        ry = rng.uniform(*radius)
        rx = ry * rng.uniform(0.7, 1.0)
        for _ in range(30):
            if centres and rng.random() < touching:
                py, px, pr = centres[rng.integers(len(centres))]
                a = rng.uniform(0, 2 * np.pi)
                d = 0.9 * (pr + rx)
                cy, cx = py + d * np.sin(a), px + d * np.cos(a)
            else:
                cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            if all((cy - y) ** 2 + (cx - x) ** 2 >= (0.85 * (r + rx)) ** 2 for y, x, r in centres):
                break
        else:
            continue
        centres.append((cy, cx, ry))
        _paint_ellipse(labels, cy, cx, ry, rx, rng.uniform(0, np.pi), value)
    labels = _consecutive(labels)
    image = _render(labels, rng)
    return image, labels


def _consecutive(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    lut = np.zeros(int(labels.max()) + 1, np.uint16)
    lut[ids[ids > 0]] = np.arange(1, int((ids > 0).sum()) + 1)
    return lut[labels]


def _render(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness per nucleus, a darker rim, texture, blur and camera noise; uint16."""
    brightness = rng.uniform(0.5, 1.0, int(labels.max()) + 1)
    brightness[0] = 0.0
    img = brightness[labels]
    edges = labels != ndi.grey_erosion(labels, size=3)
    img = np.where(edges & (labels > 0), img * 0.75, img)
    img = img * (1 + 0.15 * ndi.gaussian_filter(rng.standard_normal(labels.shape), 2))
    img = ndi.gaussian_filter(img, 1.0) + 0.05
    img = rng.poisson(np.clip(img, 0, None) * 800) + rng.normal(100, 10, labels.shape)
    return np.clip(img, 0, 65535).astype(np.uint16)


SAMPLE_SHAPE = (384, 384)
SAMPLE_SEED = 7


def synthetic_sample(
    shape: tuple[int, int] = SAMPLE_SHAPE, seed: int = SAMPLE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(uint16 image, uint16 ground-truth labels): touching nuclei of varied size and brightness."""
    return synthetic_nuclei(shape, radius=(5.0, 13.0), touching=0.4, seed=seed)


def make_sample_data() -> list[tuple[Any, dict, str]]:
    """Make the npe2 sample: one Image layer of synthetic nuclei."""
    image, _ = synthetic_sample()
    limits = [float(np.percentile(image, 0.5)), float(np.percentile(image, 99.8))]
    return [
        (
            image,
            {"name": "Synthetic nuclei", "colormap": "gray", "contrast_limits": limits},
            "image",
        )
    ]
