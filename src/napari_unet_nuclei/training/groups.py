"""Groups of training images that share a source (size, kind and look).

Used to hold whole groups out of training, so that a recipe is judged on images unlike
those it was trained on (leave-one-cluster-out), and to pick images of one kind.
"""

from __future__ import annotations

import numpy as np

SMALL_NUCLEI = 12.0  # px: the 256x256 fluorescence images split at this median diameter


def source_group(shape: tuple[int, ...], kind: str, diameter: float | None) -> str:
    """The group of an image from its size, kind and median nucleus diameter."""
    h, w = shape[:2]
    if kind != "fluorescence":
        return f"{kind}-{h}x{w}"
    if (h, w) == (256, 256):
        return "fluo-256-small" if (diameter or 0.0) < SMALL_NUCLEI else "fluo-256-large"
    if (h, w) in ((360, 360), (520, 696)):
        return f"fluo-{h}x{w}"
    return "fluo-other"


def group_sizes(groups: list[str]) -> dict[str, int]:
    """Images per group, largest first."""
    names, counts = np.unique(np.asarray(groups), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {str(names[i]): int(counts[i]) for i in order}
