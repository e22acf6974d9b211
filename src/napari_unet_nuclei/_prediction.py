"""``Prediction``: the network's maps of one 2D image, re-labelled at any threshold cheaply.

``Segmentation``: what ``NucleusModel.segment`` returns (labels, decisions, and the
prediction of an image segmented in one piece).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from ._decisions import Decisions, seed_step
from ._postprocess import (
    DEFAULT_MIN_SIZE,
    DEFAULT_THRESHOLD,
    labels_from_maps,
    relabel_sequential,
    seed_peaks,
    to_host,
)
from ._scale import resize_labels
from ._settings import DEFAULT_BLOCK_THREADS
from ._tiling import labels_in_blocks, peaks_in_blocks, use_blocks


@dataclass(eq=False)
class Prediction:
    """The network's output for one 2D image; ``labels`` re-labels it without the network.

    ``expected_diameter``: the nucleus size (px of the maps) known before labelling, if any;
    it decides the coarse seed search and whether big maps are post-processed block by block.
    ``image_shape``: set when the maps are on a finer grid than the image (an image enlarged
    for the network); they are labelled there and the labels brought to the image.
    """

    foreground: np.ndarray  # or a torch tensor on the GPU that made it (``on_device``)
    distance: np.ndarray
    seconds: float = 0.0
    device: str = "cpu"
    info: dict = field(default_factory=dict)
    expected_diameter: float | None = None
    block_threads: int = DEFAULT_BLOCK_THREADS  # threads post-processing big maps by blocks
    image_shape: tuple[int, int] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Height and width of the image."""
        return tuple(self.image_shape) if self.image_shape else self.foreground.shape

    @property
    def grid(self) -> float:
        """Pixels of the maps per pixel of the image (1 unless the image was enlarged)."""
        return self.foreground.shape[0] / self.shape[0]

    @property
    def diameter(self) -> float | None:
        """The typical nucleus diameter (pixels) measured on this prediction."""
        return self.info.get("diameter")

    @property
    def peak_step(self) -> int:
        """The seed search's step for ``expected_diameter`` (``_decisions.seed_step``)."""
        return seed_step(self.expected_diameter)

    @property
    def on_device(self) -> bool:
        """True when the maps are tensors on a device: they are labelled there, whole."""
        return isinstance(self.foreground, torch.Tensor)

    def on_host(self) -> Prediction:
        """The prediction with numpy maps (itself when they are numpy already)."""
        if not self.on_device:
            return self
        host = (to_host(self.foreground), to_host(self.distance))
        return dataclasses.replace(self, foreground=host[0], distance=host[1], info=dict(self.info))

    @property
    def _in_blocks(self) -> bool:
        shape = self.foreground.shape
        return not self.on_device and use_blocks(shape, self.expected_diameter, self.block_threads)

    @functools.cached_property
    def peaks(self) -> np.ndarray:
        """Seeds of the split, computed once: they do not depend on the threshold."""
        if self._in_blocks:
            return peaks_in_blocks(
                self.distance, self.expected_diameter, self.peak_step, self.block_threads
            )
        return seed_peaks(self.distance, step=self.peak_step)

    def labels(
        self, threshold: float | None = None, split: bool = True, min_size: int = DEFAULT_MIN_SIZE
    ) -> np.ndarray:
        """Instance labels of the image (uint16, or uint32 past 65,535 nuclei); no network call.

        Maps on a finer grid are labelled there (``min_size`` counts its pixels), and each
        pixel of the image takes the label of the grid pixel at its centre.
        """
        labels = self.grid_labels(threshold, split, min_size)
        if labels.shape == self.shape:
            return labels
        return relabel_sequential(resize_labels(labels, self.shape))

    def grid_labels(
        self, threshold: float | None = None, split: bool = True, min_size: int = DEFAULT_MIN_SIZE
    ) -> np.ndarray:
        """Instance labels on the maps' grid (the image's, unless it was enlarged)."""
        t = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        key = (t, bool(split), int(min_size))
        if self._last[0] != key:  # the size measurement and segment_nuclei ask for the same
            peaks = self.peaks if split else None
            maps = (self.foreground, self.distance, t, split, min_size, peaks)
            self._last[:] = [
                key,
                labels_in_blocks(*maps, self.expected_diameter, self.block_threads)
                if self._in_blocks
                else labels_from_maps(*maps),
            ]
        return self._last[1].copy()

    @functools.cached_property
    def _last(self) -> list:
        """The latest (settings, labels), so asking twice runs the watershed once."""
        return [None, None]


@dataclass(frozen=True, eq=False)
class Segmentation:
    """What ``NucleusModel.segment`` returns: ``labels, decisions = model.segment(image)``.

    ``path``: how the image went (one of PATHS, from ``choose_path``). ``prediction``: the
    maps of an image segmented in one piece (``path == "plane"``), to re-label it cheaply at
    other settings (the widget's sliders); None otherwise.
    """

    labels: np.ndarray
    decisions: Decisions
    path: str = "plane"
    prediction: Prediction | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator:
        return iter((self.labels, self.decisions))

    @property
    def diameter(self) -> float | None:
        """The nucleus diameter (px) measured on the labels of a plane run; else None."""
        return None if self.prediction is None else self.prediction.diameter
