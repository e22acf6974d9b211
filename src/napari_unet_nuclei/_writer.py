"""Labels -> files: TIFF that Fiji/ImageJ opens as labels, PNG, and a measurements CSV.

The ``write_*`` / ``save_labels`` functions take plain arrays and import no napari, so
the CLI can reuse them; ``write_labels`` at the bottom is the thin npe2 writer.
Every file is written to a temporary name beside its target and then renamed, so a
failed write never leaves a partial file behind.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._measure import COLUMNS, measure_stack

TIFF_EXTENSIONS = (".tif", ".tiff")
PNG_EXTENSIONS = (".png",)
UINT16_MAX = int(np.iinfo(np.uint16).max)


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _check_labels(labels: np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if not 2 <= arr.ndim <= 4:
        raise ValueError(f"Label images of 2 to 4 dimensions can be saved; got shape {arr.shape}.")
    if arr.dtype.kind not in "iub":
        raise ValueError(f"Labels must be integers, got {arr.dtype}.")
    if arr.size and arr.min() < 0:
        raise ValueError("Labels must not be negative.")
    return arr


def _fits_uint16(arr: np.ndarray) -> bool:
    return arr.size == 0 or int(arr.max()) <= UINT16_MAX


def write_tiff(path: str | os.PathLike, labels: np.ndarray,
               scale: Sequence[float] | None = None, unit: str | None = None) -> Path:
    """Write a 2D label image (or a 3D/4D stack of them) as TIFF; returns the path.

    Labels that fit 16 bits become an ImageJ hyperstack (uint8 kept, other integer
    types stored as uint16 losslessly), one plane, with the pixel size from ``scale``.
    ImageJ has no 32-bit integer images, so larger ids go to a plain uint32 TIFF,
    which Fiji opens as a 32-bit image with the same values.
    """
    arr, target = _check_labels(labels), Path(path)
    kwargs: dict[str, Any] = {}
    if _fits_uint16(arr):
        arr = arr if arr.dtype == np.uint8 else arr.astype(np.uint16)
        kwargs["imagej"] = True
        if scale is not None:
            sy, sx = (abs(float(v)) for v in list(scale)[-2:])
            kwargs["resolution"] = (1.0 / sx, 1.0 / sy)
            kwargs["metadata"] = {"unit": unit or "pixel"}
    else:
        arr = arr.astype(np.uint32)
    import tifffile

    with _atomic(target) as tmp:
        tifffile.imwrite(tmp, arr, **kwargs)
    return target


def write_png(path: str | os.PathLike, labels: np.ndarray,
              scale: Sequence[float] | None = None, unit: str | None = None) -> Path:
    """Write a 2D label image as a 8- or 16-bit greyscale PNG; returns the path.

    ``scale`` and ``unit`` are accepted for symmetry with ``write_tiff`` and not stored.
    """
    arr, target = _check_labels(labels), Path(path)
    if arr.ndim != 2:
        raise ValueError(f"PNG holds one 2D image; save a stack of shape {arr.shape} as TIFF.")
    if not _fits_uint16(arr):
        raise ValueError(f"PNG holds at most {UINT16_MAX} labels; save as TIFF instead.")
    arr = arr if arr.dtype == np.uint8 else arr.astype(np.uint16)
    import imageio.v3 as iio

    with _atomic(target) as tmp:
        iio.imwrite(tmp, arr, extension=".png")
    return target


def write_csv(path: str | os.PathLike, table: dict[str, np.ndarray]) -> Path:
    """Write a measurement table (dict of equal-length columns) as CSV; returns the path."""
    target = Path(path)
    names = [c for c in COLUMNS if c in table] + [c for c in table if c not in COLUMNS]
    rows = zip(*(np.asarray(table[c]).tolist() for c in names), strict=True)
    with _atomic(target) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerows(rows)
    return target


def writer_for(path: str | os.PathLike) -> Callable[..., Path]:
    """Pick the image writer matching the file extension (TIFF or PNG)."""
    suffix = Path(path).suffix.lower()
    if suffix in TIFF_EXTENSIONS:
        return write_tiff
    if suffix in PNG_EXTENSIONS:
        return write_png
    raise ValueError(f"Cannot save labels as {suffix or 'a file without extension'}: "
                     "choose .tif or .png.")


def free_path(path: str | os.PathLike) -> Path:
    """``path`` itself if it does not exist, else ``stem-2.ext``, ``stem-3.ext``, ..."""
    target, n = Path(path), 2
    while target.exists():
        target = Path(path).with_name(f"{Path(path).stem}-{n}{Path(path).suffix}")
        n += 1
    return target


def measurements_path(image_path: str | os.PathLike) -> Path:
    """Where the CSV beside a saved label image goes: ``<stem>_measurements.csv``."""
    path = Path(image_path)
    return path.with_name(f"{path.stem}_measurements.csv")


def save_labels(path: str | os.PathLike, labels: np.ndarray, image: np.ndarray | None = None,
                scale: Sequence[float] | None = None, translate: Sequence[float] | None = None,
                unit: str | None = None) -> list[Path]:
    """Save labels (TIFF or PNG by extension) plus a per-nucleus CSV beside them.

    ``path`` is the file the user chose (and agreed to overwrite); the CSV never
    replaces an existing file: it takes the next free name instead.
    """
    write = writer_for(path)
    table = measure_stack(labels, image, scale, translate)
    saved = write(path, labels, scale=scale, unit=unit)
    return [saved, write_csv(free_path(measurements_path(saved)), table)]


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer for one Labels layer (File > Save Selected Layers): TIFF or PNG."""
    if isinstance(data, list):  # multiscale: the full-resolution level
        data = data[0]
    write = writer_for(path)
    return [str(write(path, np.asarray(data), scale=meta.get("scale")))]
