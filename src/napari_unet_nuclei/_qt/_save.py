"""Saving a nuclei Labels layer: the labels file and its measurements CSV, beside each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels

from .._writer import free_path, save_labels
from ._planes import image_plane, layer_pixels

EXTENSIONS = (".tif", ".tiff", ".png")


def save_target(path: str) -> Path:
    """The chosen path; without a TIFF/PNG extension ``.tif`` is added, to a free name."""
    target = Path(path)
    if target.suffix.lower() not in EXTENSIONS:
        target = free_path(target.with_name(target.name + ".tif"))
    return target


def save_result(path: str, source: Image, labels: Labels) -> list[Path]:
    """Write ``labels`` and a per-nucleus CSV (intensities of ``source``); raises OSError."""
    pixels = image_plane(source) if source.ndim == 2 else np.asarray(layer_pixels(source))
    return save_labels(save_target(path), np.asarray(labels.data), pixels, source.scale,
                       source.translate)
