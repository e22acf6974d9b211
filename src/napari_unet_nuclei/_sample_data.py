"""Sample data: File > Open Sample > napari-unet-nuclei > Synthetic nuclei (2D).

Generated on the fly from a fixed seed (tens of milliseconds, no download, no files).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._synthetic import synthetic_nuclei

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
