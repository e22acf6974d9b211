"""Big images from files: lazy big TIFF / zarr / OME-Zarr in, BigTIFF or zarr labels out.

The image is labelled block by block (``NucleusModel.label_blocks``), in this process or on
a dask cluster (``cluster.segment_blocks_distributed``); the labels are written to a
temporary beside the output (its space reserved first) and published once complete.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._decisions import Decisions
from .._engine import NucleusModel
from .._io import as_image2d
from .._outputs import SOFTWARE, ZARR_MARK, WriteError, atomic_path, check_output
from .._settings import DEFAULT_BLOCK, ProgressCallback, Settings
from .sources import open_source

OUTPUT_SUFFIXES = (".tif", ".tiff", ".zarr", ".npy")


@dataclass(frozen=True)
class LargeResult:
    """Where the labels went, how many nuclei, and the decisions used for every block."""

    output: Path
    count: int
    shape: tuple[int, int]
    seconds: float
    decisions: Decisions


def create_output(
    path: str | Path, shape: tuple[int, int], chunk: int = DEFAULT_BLOCK, suffix: str | None = None
):
    """An on-disk uint32 label array: BigTIFF memmap (.tif), zarr (.zarr) or .npy memmap.

    ``suffix`` picks the format when ``path`` is a temporary name without the real one. A
    .zarr ``path`` may be an empty folder (a temporary made for it).
    """
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        return tifffile.memmap(
            path,
            shape=tuple(shape),
            dtype=np.uint32,
            bigtiff=True,
            photometric="minisblack",
            software=SOFTWARE,
        )
    if suffix == ".zarr":
        import zarr

        chunks = (min(chunk, shape[0]), min(chunk, shape[1]))
        out = zarr.open_array(
            str(path),
            mode="w" if path.is_dir() and not any(path.iterdir()) else "w-",
            shape=tuple(shape),
            chunks=chunks,
            dtype=np.uint32,
            fill_value=0,
            zarr_format=2,
        )
        out.attrs[ZARR_MARK] = {"labels": "nuclei"}  # marks the store as ours
        return out
    if suffix == ".npy":
        return np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=tuple(shape))
    raise ValueError(f"{path}: write big labels as one of {', '.join(OUTPUT_SUFFIXES)}")


def reserve(path: Path) -> None:
    """Allocate every byte of the sparse file ``path`` now.

    A full disk then fails here with an error, not later with a SIGBUS while it is mapped.
    """
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except (AttributeError, OSError) as exc:  # none here (macOS) or not on this disk
            if isinstance(exc, OSError) and exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            for offset in range(0, size, 4096):  # one byte of each block, rewritten
                fh.seek(offset)
                byte = fh.read(1)
                fh.seek(offset)
                fh.write(byte)


def open_output(tmp: Path, target: Path, shape: tuple[int, int], chunk: int):
    """``create_output`` at ``tmp`` for ``target``, its space reserved; errors name ``target``."""
    try:
        out = create_output(tmp, shape, chunk, target.suffix)
        if isinstance(out, np.memmap):
            reserve(tmp)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(exc.errno, exc.strerror or str(exc), str(target)) from exc
    return out


def _close(out) -> None:
    if isinstance(out, np.memmap):
        out.flush()


def check_request(source, output: str | Path, margin: int | None, overwrite: bool = False) -> Path:
    """Settings and an output that can never work, refused before anything is written."""
    if margin is not None and margin < 0:
        raise ValueError(f"the margin must not be negative, got {margin}")
    if Path(output).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"{output}: write big labels as one of {', '.join(OUTPUT_SUFFIXES)}")
    inputs = [source] if isinstance(source, (str, Path)) else []
    return check_output(output, inputs, overwrite)


def segment_large(
    source,
    output: str | Path,
    *,
    weights: str | None = None,
    device: str = "auto",
    block_size: int = DEFAULT_BLOCK,
    margin: int | None = None,
    axes: str | None = None,
    channel: int | None = None,
    client=None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    **settings,
) -> LargeResult:
    """Label a big image (a file path or an array) block by block into the file ``output``.

    ``client``: a dask.distributed Client to label the blocks on (default: this process).
    ``settings``: those of ``Settings`` (``diameter``, ``threshold`` ...).
    The labels go to a temporary name beside ``output``, renamed only once complete; an
    existing ``output`` is replaced only when it is ours and ``overwrite`` is set.
    """
    t0 = time.perf_counter()
    s = Settings.of(block_size=block_size, **settings)
    target = check_request(source, output, margin, overwrite)
    is_path = isinstance(source, (str, Path))
    image = open_source(source, axes, channel) if is_path else as_image2d(source, axes, channel)
    model = NucleusModel(weights, device)
    decisions = model.decide(image, s)[0]
    replace = "ours" if overwrite else "new"  # re-checked when the labels are published
    with atomic_path(target, replace) as tmp:
        out = open_output(tmp, target, image.shape[:2], block_size)
        if client is None:
            _, count = model.label_blocks(image, out, progress, margin, s, decisions)
        else:
            from .cluster import PathSource, label_blocks_distributed

            remote = PathSource(str(source), axes, channel) if is_path else image
            options = dict(model=model, progress=progress, decisions=decisions, **s.as_dict())
            _, count = label_blocks_distributed(client, remote, out, margin, **options)
        _close(out)
        del out
    seconds = time.perf_counter() - t0
    return LargeResult(target, count, tuple(image.shape[:2]), seconds, decisions)
