"""Finding and reading user images, without napari (label files: see ``_writer``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._stack import (
    AmbiguousAxesError,
    ChannelError,
    canonical_view,
    check_axes,
    choose_channel,
    guess_axes,
)

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
        raise ValueError(f"{path}: cannot read as an image ({_reason(exc)})") from exc
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
        return arr
    raise ValueError(f"{path}: expected a 2D grey or RGB(A) image, got shape {arr.shape}")


KNOWN_TIFF_AXES = "TZCYXS"  # tifffile's letters we use (S: colour samples); others: unknown


def _tiff_letters(axes: str) -> str:
    """The axes tifffile found, in our letters; samples (S) are colour only when last.

    tifffile writes any array of 3 or 4 leading planes as planar RGB, which says nothing of them.
    """
    letters = "".join(a if a in KNOWN_TIFF_AXES else "?" for a in axes)
    return letters[:-1].replace("S", "?") + letters[-1]


def tiff_axes(axes: str) -> str | None:
    """The one TIFF axes rule: tifffile's ``axes`` in our letters (S as C), None when unknown.

    None (some axis unknown, repeated, or no Y and X): the axes are guessed from the shape.
    """
    letters = _tiff_letters(axes).replace("S", "C")
    usable = "?" not in letters and len(set(letters)) == len(letters)
    return letters if usable and "Y" in letters and "X" in letters else None


SEVERAL_IMAGES = ("generic", "shaped", "uniform", "ome")  # series kinds: each series an image


def _first_series(tif, path: Path):
    """The file's image; refused when its pages hold several images (of different shapes)."""
    kinds = {s.kind.lower() for s in tif.series}
    if len(tif.series) > 1 and kinds <= set(SEVERAL_IMAGES):
        shapes = ", ".join("x".join(map(str, s.shape)) for s in tif.series[:4])
        more = ", ..." if len(tif.series) > 4 else ""
        raise ValueError(
            f"{path}: its pages hold {len(tif.series)} images of different shapes "
            f"({shapes}{more}); only the first would be read: save each image as its own file"
        )
    return tif.series[0]


def _read_pixels(path: Path) -> tuple[np.ndarray, str]:
    """The pixels and one letter per axis: T Z C Y X, S for colour samples, ? for unknown."""
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                series = _first_series(tif, path)
                arr = series.asarray()
        except ValueError as exc:
            if str(exc).startswith(f"{path}:"):
                raise
            raise ValueError(f"{path}: cannot read as an image ({_reason(exc)})") from exc
        except Exception as exc:
            raise ValueError(f"{path}: cannot read as an image ({_reason(exc)})") from exc
        return arr, _tiff_letters(series.axes)
    arr = read_image(path)
    return arr, "YX" if arr.ndim == 2 else "YXS"


def _axes_of(shape: tuple[int, ...], letters: str, path: Path) -> str:
    """The file's axes, or a guess from the shape when some are unknown (may be ambiguous)."""
    from ._stack import resolve_axes

    if "?" not in letters:
        try:
            return resolve_axes(shape, letters.replace("S", "C"))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    try:
        return resolve_axes(shape, None, rgb="S" in letters)
    except AmbiguousAxesError as exc:
        raise AmbiguousAxesError(
            f"{path}: cannot tell the axes of shape {shape}: {exc.guess.reason}", exc.guess
        ) from None


def _given_axes(arr: np.ndarray, axes: str, path: Path) -> tuple[np.ndarray, str]:
    """``axes`` named by the user, for the whole array or for it without its axes of length 1."""
    from ._stack import resolve_axes

    squeezed = np.squeeze(arr)
    if len(axes) == arr.ndim:
        axes = resolve_axes(arr.shape, axes)
        return squeezed, "".join(a for a, n in zip(axes, arr.shape, strict=True) if n != 1)
    if len(axes) == squeezed.ndim:
        return squeezed, resolve_axes(squeezed.shape, axes)
    raise ValueError(
        f"{path}: axes {axes!r} name {len(axes)} axes but the image has {squeezed.ndim} "
        f"(shape {arr.shape})"
    )


def _pick_channel(
    arr: np.ndarray, axes: str, channel: int | None, colour: bool, path: Path
) -> tuple[np.ndarray, str]:
    """One channel of ``arr``, or ``arr`` itself when its C axis (if any) is colour."""
    at = axes.find("C")
    if at < 0:
        if channel is None:
            return arr, axes
        raise ChannelError(f"{path}: channel {channel} chosen but the image has no channel axis")
    try:
        index = choose_channel(arr.shape[at], channel, colour)
    except ChannelError as exc:
        raise ChannelError(f"{path} (axes {axes}): {exc}") from None
    return (arr, axes) if index is None else (np.take(arr, index, axis=at), axes.replace("C", ""))


def read_stack(
    path: str | Path, axes: str | None = None, channel: int | None = None
) -> tuple[np.ndarray, str]:
    """The pixels of an image or stack and their axes (letters of TZCYX); axes of length 1 dropped.

    Axes come from ``axes`` when given, else from the file (OME-TIFF, ImageJ hyperstacks,
    tifffile's own), else from the shape (``_stack.AmbiguousAxesError`` when it cannot tell).
    ``channel`` picks one channel; without it a C axis is kept only when it is colour
    (RGB(A) samples, or 3 or 4 channels named by ``axes``).
    """
    path = Path(path)
    arr, letters = _read_pixels(path)
    if axes is not None:
        arr, found = _given_axes(arr, axes, path)
        return _pick_channel(arr, found, channel, True, path)
    keep = [i for i, n in enumerate(arr.shape) if n != 1]
    arr, letters = np.squeeze(arr), "".join(letters[i] for i in keep)
    found = _axes_of(arr.shape, letters, path)
    colour = "S" in letters or ("?" in letters and "C" in found)
    return _pick_channel(arr, found, channel, colour, path)


def image_2d(arr: np.ndarray, axes: str) -> np.ndarray:
    """A (Y, X) or (Y, X, colour) view of an image whose axes hold no T or Z."""
    return arr.transpose([axes.index(a) for a in "YXC" if a in axes])


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class ImageTooLargeError(ValueError):
    """The image would not fit in memory in one piece; ``segment-large`` reads it in blocks."""


PIPELINE_BYTES_PER_PIXEL = 40  # float copies, the two maps, seeds and labels of one image


def declared_shape(path: str | Path) -> tuple[tuple[int, ...], int] | None:
    """(shape, bytes per pixel value) as the header declares them; no pixel is read."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return tuple(int(n) for n in series.shape), series.dtype.itemsize
        from PIL import Image

        with Image.open(path) as img:
            bands = len(img.getbands())
            shape = (img.size[1], img.size[0]) + ((bands,) if bands > 1 else ())
            return shape, 2 if "16" in img.mode else 1
    except Exception:  # unreadable headers are reported when the pixels are read
        return None


def declared_size(path: str | Path) -> tuple[int, int] | None:
    """(height x width, bytes of all pixels) as the header declares them; no pixel is read."""
    declared = declared_shape(path)
    if declared is None:
        return None
    shape, itemsize = declared
    big = sorted(shape)[-2:]
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


def as_image2d(data, axes: str | None = None, channel: int | None = None):
    """A lazy 2D (or YX + colour) view of numpy, dask or zarr data; other axes must be 1 long."""
    arr = data
    if not isinstance(arr, np.ndarray) and not hasattr(arr, "compute"):
        import dask.array as da

        arr = da.from_array(data, chunks=getattr(data, "chunks", "auto"))
    if axes is None:
        while arr.ndim > 2 and arr.shape[0] == 1:
            arr = arr[0]
        guess = guess_axes(tuple(arr.shape))
        if guess.ambiguous and not (channel is not None and "C" in guess.axes):
            raise AmbiguousAxesError(
                f"Cannot tell the axes of shape {arr.shape}: {guess.reason}. Pass axes.", guess
            )
        axes = guess.axes
    axes = check_axes(axes, arr.ndim)
    planes = [a for a in axes if a in "TZ"]
    if any(arr.shape[axes.index(a)] > 1 for a in planes):
        raise ValueError(f"shape {arr.shape} with axes {axes!r} is a stack, not one big image")
    return canonical_view(arr, axes, channel)[(0,) * len(planes)]
