"""Saving a nuclei Labels layer: the labels file and its measurements CSV, beside each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels

from .._outputs import check_not_input, free_path
from .._writer import save_labels
from ._planes import layer_pixels

EXTENSIONS = (".tif", ".tiff", ".png")


def save_target(path: str) -> Path:
    """The chosen path; without a TIFF/PNG extension ``.tif`` is added, to a free name."""
    target = Path(path)
    if target.suffix.lower() not in EXTENSIONS:
        target = free_path(target.with_name(target.name + ".tif"))
    return target


def save_result(path: str, source: Image, labels: Labels) -> list[Path]:
    """Write ``labels`` and a per-nucleus CSV (intensities of ``source``); raises OSError.

    A file the image (or the labels) was opened from is never replaced (ValueError).
    """
    target = save_target(path)
    check_not_input(target, [p for p in (source.source.path, labels.source.path) if p])
    labels_data = labels.data if isinstance(labels.data, np.ndarray) else np.asarray(labels.data)
    # the image as the layer holds it (numpy, dask, zarr): measured a band of rows at a time
    pixels, parents = layer_pixels(source), labels.metadata.get("track_parents")
    return save_labels(target, labels_data, pixels, source.scale, source.translate, parents=parents)
