"""Labels -> files: TIFF that Fiji/ImageJ opens as labels, PNG, and a measurements CSV.

The ``write_*`` / ``save_labels`` functions take plain arrays and import no napari, so
the CLI can reuse them; ``write_labels`` at the bottom is the thin npe2 writer.
Every file is written to a temporary beside its target and then published
(``_outputs.publish``), so a failed write (missing or read-only folder, full disk) never
leaves a partial file behind and never destroys the file it was to replace, and nothing is
replaced that the caller's ``replace`` rule does not allow; the error names the file asked for.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._measure import COLUMNS, measure_stack, track_table
from ._outputs import (
    SOFTWARE,
    Replace,
    WriteError,
    check_not_input,
    free_path,
    publish,
    remove_ours,
    temp_for,
    tracks_path,
)

TIFF_EXTENSIONS = (".tif", ".tiff")
PNG_EXTENSIONS = (".png",)
UINT16_MAX = int(np.iinfo(np.uint16).max)
UINT32_MAX = int(np.iinfo(np.uint32).max)
Encoder = Callable[[BinaryIO], None]  # writes checked, prepared data to an open file


def _open_new(path: Path) -> BinaryIO:
    """Open a new file for writing: the one place where saved bytes reach the disk."""
    return open(path, "wb")


@contextmanager
def _atomic(path: Path, replace: Replace = "any") -> Iterator[BinaryIO]:
    """Yield a file beside ``path``; published onto ``path`` only once completely written."""
    tmp = None
    try:
        tmp = temp_for(path)
        with _open_new(tmp) as fh:
            yield fh
        publish(tmp, path, replace)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    finally:
        if tmp is not None:
            remove_ours(tmp)


def _write(path: str | os.PathLike, encode: Encoder, replace: Replace = "any") -> Path:
    target = Path(path)
    with _atomic(target, replace) as fh:
        encode(fh)
    return target


def _check_labels(labels: np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if not 2 <= arr.ndim <= 4:
        raise ValueError(f"Label images of 2 to 4 dimensions can be saved; got shape {arr.shape}.")
    if arr.dtype.kind not in "iub":
        raise ValueError(f"Labels must be integers, got {arr.dtype}.")
    if arr.size and arr.min() < 0:
        raise ValueError("Labels must not be negative.")
    return fit_uint32(arr)


def fit_uint32(arr: np.ndarray) -> np.ndarray:
    """Labels whose ids pass the uint32 range, relabelled 1..n in id order (never wrapped)."""
    small = arr.dtype.kind not in "iu" or np.iinfo(arr.dtype).max <= UINT32_MAX  # no scan
    if small or arr.size == 0 or int(arr.max()) <= UINT32_MAX:
        return arr
    ids, inverse = np.unique(arr, return_inverse=True)
    if ids[0] < 0:
        raise ValueError("Labels must not be negative.")
    if ids.size - (ids[0] == 0) > UINT32_MAX:
        raise ValueError(f"{ids.size} labels do not fit a uint32 label image.")
    return (inverse.reshape(arr.shape) + (ids[0] != 0)).astype(np.uint32)


def _fits_uint16(arr: np.ndarray) -> bool:
    return arr.size == 0 or int(arr.max()) <= UINT16_MAX


def hyperstack_order(axes: str) -> str:
    """``axes`` (letters of TZCYX) in the order ImageJ hyperstacks keep them."""
    return "".join(a for a in "TZCYX" if a in axes)


def _in_hyperstack_order(arr: np.ndarray, axes: str | None) -> np.ndarray:
    if axes is None:
        return arr
    if len(axes) != arr.ndim or sorted(axes) != sorted(hyperstack_order(axes)):
        raise ValueError(f"axes {axes!r} do not name the {arr.ndim} axes of the labels")
    return arr.transpose([axes.index(a) for a in hyperstack_order(axes)])


def tiff_encoder(
    labels: np.ndarray,
    scale: Sequence[float] | None = None,
    unit: str | None = None,
    axes: str | None = None,
) -> Encoder:
    """Check ``labels`` now; the returned function writes them as TIFF (see ``write_tiff``)."""
    arr = _in_hyperstack_order(_check_labels(labels), axes)
    kwargs: dict[str, Any] = {"software": SOFTWARE}  # marks the file as ours (``_outputs``)
    metadata = {} if axes is None else {"axes": hyperstack_order(axes)}
    if _fits_uint16(arr):
        arr = arr if arr.dtype == np.uint8 else arr.astype(np.uint16, copy=False)
        kwargs["imagej"] = True
        if scale is not None:
            sy, sx = (abs(float(v)) for v in list(scale)[-2:])
            kwargs["resolution"] = (1.0 / sx, 1.0 / sy)
            metadata["unit"] = unit or "pixel"
    else:
        arr = arr.astype(np.uint32, copy=False)  # a uint32 memory map is not copied
    if metadata:
        kwargs["metadata"] = metadata  # ImageJ's, or tifffile's own for uint32
    import tifffile

    return lambda fh: tifffile.imwrite(fh, arr, **kwargs)


def write_tiff(
    path: str | os.PathLike,
    labels: np.ndarray,
    scale: Sequence[float] | None = None,
    unit: str | None = None,
    axes: str | None = None,
    replace: Replace = "any",
) -> Path:
    """Write a 2D label image (or a 3D/4D stack of them) as TIFF; returns the path.

    Labels that fit 16 bits become an ImageJ hyperstack (uint8 kept, other integer
    types stored as uint16 losslessly), with the pixel size from ``scale``.
    ImageJ has no 32-bit integer images, so larger ids go to a plain uint32 TIFF,
    which Fiji opens as a 32-bit image with the same values; ids past uint32 are
    relabelled 1..n (``fit_uint32``). ``axes`` (e.g. ``"TYX"``) name the axes of a stack:
    it is written in ImageJ's order (``hyperstack_order``) with them in its metadata.
    ``replace``: what an existing file may be (``_outputs.Replace``): "any" replaces the
    file asked for, "ours" only an earlier output, "new" nothing.
    """
    return _write(path, tiff_encoder(labels, scale, unit, axes), replace)


def png_encoder(
    labels: np.ndarray, scale: Sequence[float] | None = None, unit: str | None = None
) -> Encoder:
    """Check ``labels`` now; the returned function writes them as PNG (see ``write_png``)."""
    arr = _check_labels(labels)
    if arr.ndim != 2:
        raise ValueError(f"PNG holds one 2D image; save a stack of shape {arr.shape} as TIFF.")
    if not _fits_uint16(arr):
        raise ValueError(f"PNG holds at most {UINT16_MAX} labels; save as TIFF instead.")
    arr = arr if arr.dtype == np.uint8 else arr.astype(np.uint16)
    import imageio.v3 as iio

    return lambda fh: iio.imwrite(fh, arr, extension=".png")


def write_png(
    path: str | os.PathLike,
    labels: np.ndarray,
    scale: Sequence[float] | None = None,
    unit: str | None = None,
) -> Path:
    """Write a 2D label image as a 8- or 16-bit greyscale PNG; returns the path.

    ``scale`` and ``unit`` are accepted for symmetry with ``write_tiff`` and not stored.
    """
    return _write(path, png_encoder(labels, scale, unit))


def csv_encoder(table: dict[str, np.ndarray]) -> Encoder:
    """The returned function writes a measurement table as UTF-8 CSV to an open file."""
    names = [c for c in COLUMNS if c in table] + [c for c in table if c not in COLUMNS]

    def encode(fh: BinaryIO) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(names)
        writer.writerows(zip(*(np.asarray(table[c]).tolist() for c in names), strict=True))
        text.flush()
        text.detach()  # the file is closed by its owner

    return encode


def write_csv(path: str | os.PathLike, table: dict[str, np.ndarray]) -> Path:
    """Write a measurement table (dict of equal-length columns) as CSV; returns the path."""
    return _write(path, csv_encoder(table))


def write_lineage(
    labels_path: Path, labels: np.ndarray, parents: dict[int, int], replace: Replace = "new"
) -> Path:
    """The lineage of tracked labels written to ``labels_path``, beside them.

    A CSV has no field for our mark: a sidecar marks it, as for a .npy (``_outputs``).
    """
    return _write(tracks_path(labels_path), csv_encoder(track_table(labels, parents)), replace)


def encoder_for(path: str | os.PathLike) -> Callable[..., Encoder]:
    """Pick the label encoder matching the file extension (TIFF or PNG)."""
    suffix = Path(path).suffix.lower()
    if suffix in TIFF_EXTENSIONS:
        return tiff_encoder
    if suffix in PNG_EXTENSIONS:
        return png_encoder
    raise ValueError(
        f"Cannot save labels as {suffix or 'a file without extension'}: choose .tif or .png."
    )


def measurements_path(image_path: str | os.PathLike) -> Path:
    """Where the CSV beside a saved label image goes: ``<stem>_measurements.csv``."""
    path = Path(image_path)
    return path.with_name(f"{path.stem}_measurements.csv")


def save_labels(
    path: str | os.PathLike,
    labels: np.ndarray,
    image: np.ndarray | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    unit: str | None = None,
    parents: dict[int, int] | None = None,
) -> list[Path]:
    """Save labels (TIFF or PNG by extension) plus a per-nucleus CSV beside them.

    ``path`` is the file the user chose (and agreed to overwrite); the CSV never
    replaces an existing file: it takes the next free name instead. Both are written in
    full before either is renamed into place; after a failure neither is there.
    ``parents`` marks tracked time-lapse labels: the CSV gets track columns.
    """
    labels = fit_uint32(np.asarray(labels))  # ids relabelled here are those measured
    encode_labels = encoder_for(path)(labels, scale=scale, unit=unit)
    encode_table = csv_encoder(measure_stack(labels, image, scale, translate, parents))
    target = Path(path)
    sheet = free_path(measurements_path(target))
    published = []
    try:
        with _atomic(target) as labels_fh:
            encode_labels(labels_fh)
            with _atomic(sheet, "new") as sheet_fh:  # published first: removed if the labels fail
                encode_table(sheet_fh)
            published.append(sheet)
    except (OSError, ValueError):
        for written in published:
            written.unlink(missing_ok=True)  # written by this call a moment ago
        raise
    return [target, sheet]


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer for one Labels layer (File > Save Selected Layers): TIFF or PNG.

    napari's dialog asked before replacing a file; a file a layer was opened from is refused.
    """
    if isinstance(data, list):  # multiscale: the full-resolution level
        data = data[0]
    try:
        check_not_input(path, _viewer_files())
    except ValueError as exc:  # an OSError, as napari drops a writer's ValueError silently
        raise WriteError(errno.EEXIST, str(exc), path) from exc
    encode = encoder_for(path)(np.asarray(data), scale=meta.get("scale"))
    return [str(_write(path, encode))]


def _viewer_files() -> list[str]:
    """The files the current napari viewer's layers were opened from (none without one)."""
    napari = sys.modules.get("napari")  # loaded when napari calls this writer; not imported
    viewer = napari.current_viewer() if napari is not None else None
    return [] if viewer is None else [x.source.path for x in viewer.layers if x.source.path]
