"""``Decisions``: what the engine decides once per image and applies to every part of it.

Each decision has one function: the path (``choose_path``), the model's nucleus size
(``trained_diameter``), the seed search (``seed_step``); normalisation is
``_normalize.fit_normalization``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ._normalize import Normalization, fit_normalization

if TYPE_CHECKING:
    from ._settings import Settings

DEFAULT_MODEL_DIAMETER = 16.0  # nucleus size for weights files that do not store their own
# Images enlarged more than this for the network (nuclei under 8 px for a 16 px model) are
# labelled on the network's grid: on their own, touching nuclei share one smoothed seed and
# the minimum size (20 px) is a whole nucleus. Not below: labels brought back by nearest
# neighbour have coarser borders (val scores fell when every enlarged image was; CHANGELOG.md)
FINE_LABELS_ABOVE = 2.0


@dataclass(frozen=True)
class Decisions:
    """What is decided once per image (or stack, or big image) and applied to every part."""

    normalization: Normalization
    scale: float = 1.0  # the image is resampled by this before the network
    diameter: float | None = None  # expected nucleus diameter (image px); None: not known
    estimate: float | None = None  # what ``diameter="auto"`` measured
    model_diameter: float = DEFAULT_MODEL_DIAMETER
    border: int | None = None  # mirrored px past the image's edge on the network's grid
    # (``_inference.image_border`` of the whole image): every block and tile gets the same

    @property
    def size(self) -> float:
        """The best known nucleus size (image px): block margins are sized by it."""
        return self.estimate or self.diameter or self.model_diameter

    @property
    def label_scale(self) -> float:
        """The grid labels are made on, relative to the image's (1: the image's own).

        The network's grid when the image was enlarged more than FINE_LABELS_ABOVE for it:
        there the seeds and the minimum size fit the nuclei.
        """
        return self.scale if self.scale > FINE_LABELS_ABOVE else 1.0

    @property
    def constant(self) -> bool:
        """True for an image without contrast: nothing to find, no network pass."""
        return self.normalization.high - self.normalization.low < 1e-6

    def for_plane(self, plane: np.ndarray) -> Decisions:
        """These decisions for another plane: its own percentiles, same polarity and channel."""
        norm = self.normalization
        fitted = fit_normalization(plane, norm.invert, stain=norm.channel)
        return replace(self, normalization=fitted)


COARSE_SEEDS_DIAMETER = 12.0  # nuclei this wide (px) or more: seeds searched at half resolution
PATHS = ("plane", "stack", "blocks")


def trained_diameter(model: object) -> float:
    """The nucleus diameter (px) the weights were trained at: a network's or its ``meta``'s."""
    meta = model if isinstance(model, dict) else getattr(model, "meta", {})
    return float(meta.get("diameter", DEFAULT_MODEL_DIAMETER))


def seed_step(diameter: float | None) -> int:
    """The seed search's step on maps whose nuclei are ``diameter`` px wide (None: unknown).

    2 (seeds searched at half resolution) when nuclei are known to be large enough, else 1.
    """
    return 2 if diameter is not None and diameter >= COARSE_SEEDS_DIAMETER else 1


def choose_path(shape: tuple[int, ...], n_lead: int, settings: Settings) -> str:
    """``"stack"``, ``"blocks"`` or ``"plane"`` for a ([T][Z], Y, X[, colour]) view's shape."""
    if math.prod(shape[:n_lead]) > 1:
        return "stack"
    h, w = shape[n_lead : n_lead + 2]
    return "blocks" if h * w > settings.big_image_pixels else "plane"
