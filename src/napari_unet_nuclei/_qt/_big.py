"""Images too big to segment in one piece: block by block into a disk-backed label array.

Where the engine's ``choose_path`` says "blocks" (a 2D image above ``big_image_pixels``:
a slide scan, a stitched plate), the image is read a block at a time from whatever array
the layer holds (numpy, dask, zarr, level 0 of a pyramid) and its labels are written to a
memory-mapped scratch file, so memory stays bounded.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np
from napari.layers import Image

from .._decisions import choose_path
from .._device import device_name
from .._settings import Settings
from ._planes import layer_pixels, spatial_shape
from ._run import Outcome, RunCancelled, cancellable, segment


def is_big(layer: Image | None, options: dict | None = None) -> bool:
    """True for a 2D image layer (grey or RGB) that the engine segments block by block."""
    if layer is None or layer.ndim != 2:
        return False
    return choose_path(spatial_shape(layer), 0, Settings.of(**(options or {}))) == "blocks"


def scratch_labels(shape: tuple[int, int]) -> np.memmap:
    """Zeroed uint32 labels in a temporary file, removed by the system once unmapped."""
    fd, path = tempfile.mkstemp(prefix="napari-unet-nuclei-", suffix=".labels")
    os.close(fd)
    labels = np.memmap(path, np.uint32, "w+", shape=shape)
    try:
        os.unlink(path)  # the mapping stays valid; the disk space goes with it
    except OSError:  # Windows keeps mapped files: the temp folder's clean-up removes it
        pass
    return labels


def blocks_outcome(
    pixels: object, options: dict, cancel: threading.Event, report: Callable[[int, int], None]
) -> Outcome:
    """The engine's block-by-block run into scratch labels; progress: blocks done / total."""
    t0 = time.perf_counter()
    try:
        out = scratch_labels(tuple(pixels.shape[:2]))
        labels = segment(pixels, options, cancellable(cancel, report), out=out).labels
        count = int(labels.max(initial=0))
    except RunCancelled:
        return Outcome()
    except Exception as exc:  # shown to the user by the widget, in words
        return Outcome(error=exc)
    seconds = time.perf_counter() - t0
    return Outcome() if cancel.is_set() else Outcome(labels=labels, seconds=seconds, count=count)


def big_plan(layer: Image, settings: dict) -> tuple[object, dict, str]:
    """(pixels, ``segment`` options, status line) for a big 2D image layer."""
    h, w = spatial_shape(layer)
    device = device_name(settings["device"])
    status = f"Segmenting '{layer.name}' ({w} × {h} px) block by block on {device}…"
    return layer_pixels(layer), dict(settings), status


def big_summary(count: int, seconds: float, device: str) -> str:
    """The status line after a block-by-block run."""
    return (
        f"{count} nuclei · big image, segmented block by block · {seconds:.1f} s on "
        f"{device} · change a setting, then press Segment nuclei again"
    )
