"""``segment_nuclei`` and ``predict``: the one core the widget, CLI and scripts share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ._inference import DEFAULT_HALO, DEFAULT_TILE, ProgressCallback, predict_maps
from ._postprocess import DEFAULT_MIN_SIZE, DEFAULT_THRESHOLD, labels_from_maps


@dataclass(frozen=True)
class Prediction:
    """The network's output for one 2D image; re-label it at any threshold cheaply."""

    foreground: np.ndarray
    distance: np.ndarray
    seconds: float = 0.0
    device: str = "cpu"
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Height and width of the image."""
        return self.foreground.shape

    def labels(self, threshold: float | None = None, split: bool = True,
               min_size: int = DEFAULT_MIN_SIZE) -> np.ndarray:
        """Instance labels (uint16, or uint32 past 65,535 nuclei); no network call."""
        t = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        return labels_from_maps(self.foreground, self.distance, t, split, min_size)


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        spatial = arr.shape[:2]
    elif arr.ndim == 2:
        spatial = arr.shape
    else:
        raise ValueError(f"segment_nuclei takes a 2D grey or RGB(A) image; got shape {arr.shape}. "
                         "Segment stacks plane by plane.")
    if min(spatial) == 0:
        raise ValueError(f"The image is empty (shape {arr.shape}).")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"Unsupported image data type {arr.dtype}.")
    return arr


def predict(image: np.ndarray, device: str = "auto", weights: str | None = None,
            tile_size: int = DEFAULT_TILE, halo: int = DEFAULT_HALO, batch_size: int = 4,
            invert: bool | None = None, progress: ProgressCallback | None = None) -> Prediction:
    """Run the U-Net once on a 2D image (grey or RGB(A), any numeric dtype).

    ``invert=None`` detects dark nuclei on a bright background; ``progress(done, total)``
    is called per batch of tiles and may raise to cancel.
    """
    arr = _check_image(image)
    t0 = time.perf_counter()
    maps = predict_maps(arr, device, weights, tile_size, halo, batch_size, invert, progress)
    return Prediction(maps[0], maps[1], time.perf_counter() - t0, str(device))


def segment_nuclei(image: np.ndarray, threshold: float | None = None, split: bool = True,
                   min_size: int = DEFAULT_MIN_SIZE, device: str = "auto",
                   weights: str | None = None, **predict_options) -> np.ndarray:
    """Label the nuclei of a 2D image: 0 is background, 1..N one nucleus each."""
    return predict(image, device, weights, **predict_options).labels(threshold, split, min_size)
