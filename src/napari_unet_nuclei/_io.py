"""Finding and reading user images, without napari (label files: see ``_writer``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def find_images(inputs: list[str | Path]) -> tuple[list[Path], list[str]]:
    """Image files named directly or found (non-recursively) in folders; plus problems."""
    files, problems = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not found:
                problems.append(f"{item}: folder holds no TIFF, PNG or JPEG images")
            files.extend(found)
        elif item.exists():
            files.append(item)
        else:
            problems.append(f"{item}: no such file or folder")
    unique = {os.path.realpath(p): p for p in reversed(files)}  # a file named twice: once
    return [p for p in files if unique[os.path.realpath(p)] is p], problems


def read_image(path: str | Path) -> np.ndarray:
    """A 2D grey or (H, W, 3|4) colour image; singleton axes are dropped."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
        else:
            import imageio.v3 as iio

            arr = iio.imread(path)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: cannot read as an image ({reason})") from exc
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
        return arr
    raise ValueError(f"{path}: expected a 2D grey or RGB(A) image, got shape {arr.shape}")


class ImageTooLargeError(ValueError):
    """The image would not fit in memory in one piece; ``segment-large`` reads it in blocks."""


PIPELINE_BYTES_PER_PIXEL = 40  # float copies, the two maps, seeds and labels of one image


def declared_size(path: str | Path) -> tuple[int, int] | None:
    """(height x width, bytes of all pixels) as the header declares them; no pixel is read."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, itemsize = series.shape, series.dtype.itemsize
        else:
            from PIL import Image

            with Image.open(path) as img:
                shape, itemsize = (*img.size, len(img.getbands())), 2 if "16" in img.mode else 1
    except Exception:  # unreadable headers are reported by ``read_image``
        return None
    big = sorted(int(n) for n in shape)[-2:]
    return big[0] * big[-1], int(np.prod(shape, dtype=np.float64)) * itemsize


def memory_limit() -> int:
    """Bytes one image may need: half of this machine's physical memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_fits_memory(path: str | Path, limit: int | None = None) -> None:
    """Refuse, before reading, an image whose header declares more than memory allows."""
    declared = declared_size(path)
    if declared is None:
        return
    pixels, raw = declared
    need = raw + pixels * PIPELINE_BYTES_PER_PIXEL
    limit = memory_limit() if limit is None else limit
    if need > limit:
        raise ImageTooLargeError(
            f"{path}: its header declares {pixels / 1e6:,.0f} MP, which needs about "
            f"{need / 2**30:,.1f} GB (limit {limit / 2**30:,.1f} GB); segment it block by block "
            f"with: napari-unet-nuclei segment-large {path} -o {Path(path).stem}_labels.tif"
        )


def output_names(files: list[Path]) -> tuple[list[str], list[str]]:
    """``<stem>.tif`` per input; inputs that share it get their relative path in the name.

    E.g. ``d1/x.tif`` and ``d2/x.tif`` become ``d1_x.tif`` and ``d2_x.tif``; ``x.png`` beside
    ``x.tif`` become ``x_png.tif`` and ``x_tif.tif``. Returns (names, notes for the user).
    """
    names = [f"{p.stem}.tif" for p in files]
    notes = []
    for key in sorted({n.lower() for n in names}):
        group = [i for i, n in enumerate(names) if n.lower() == key]
        if len(group) > 1:
            renamed = _distinct_names([files[i] for i in group])
            notes.append(
                f"{len(group)} inputs would all be written as {names[group[0]]}: "
                "they are written as " + ", ".join(renamed)
            )
            for i, new in zip(group, renamed, strict=True):
                names[i] = new
    return _numbered(names), notes


def _distinct_names(files: list[Path]) -> list[str]:
    """Names built from each file's path below the folder the files have in common."""
    resolved = [Path(os.path.abspath(p)) for p in files]
    common = Path(os.path.commonpath([p.parent for p in resolved]))
    stems = ["_".join(p.with_suffix("").relative_to(common).parts) for p in resolved]
    clash = len({s.lower() for s in stems}) < len(stems)
    return [
        s + (f"_{p.suffix.lstrip('.').lower()}" if clash else "") + ".tif"
        for s, p in zip(stems, resolved, strict=True)
    ]


def _numbered(names: list[str]) -> list[str]:
    """``-2``, ``-3``... on any name still taken (case-insensitively) by an earlier one."""
    taken: set[str] = set()
    out = []
    for name in names:
        new, n = name, 2
        while new.lower() in taken:
            new, n = f"{name[:-4]}-{n}.tif", n + 1
        taken.add(new.lower())
        out.append(new)
    return out
