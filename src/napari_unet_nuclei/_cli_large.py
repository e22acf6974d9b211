"""Big images from files: lazy big TIFF / zarr / OME-Zarr in, BigTIFF or zarr labels out.

The image is labelled block by block, in this process or on a dask cluster.

``add_arguments`` / ``run`` are the ``segment-large`` sub-command of the CLI.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._blocks import as_image2d
from ._engine import Decisions, NucleusModel
from ._outputs import SOFTWARE, ZARR_MARK, atomic_path, check_output
from ._postprocess import DEFAULT_MIN_SIZE
from ._settings import DEFAULT_BLOCK, ProgressCallback, Settings
from ._sources import open_source

OUTPUT_SUFFIXES = (".tif", ".tiff", ".zarr", ".npy")
DEFAULT_TIMEOUT = 30.0  # seconds a dask scheduler has to answer
MAX_TIMEOUT = 60.0


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

    ``suffix`` picks the format when ``path`` is a temporary name without the real one.
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
            mode="w-",
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
    block_size: int = DEFAULT_BLOCK,
    margin: int | None = None,
    axes: str | None = None,
    channel: int | None = None,
    client=None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    device: str = "auto",
    weights: str | None = None,
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
    with atomic_path(target) as tmp:
        out = create_output(tmp, image.shape[:2], block_size, target.suffix)
        if client is None:
            _, count = model.label_blocks(image, out, progress, margin, s, decisions)
        else:
            from ._distributed import PathSource, segment_blocks_distributed

            remote = PathSource(str(source), axes, channel) if is_path else image
            options = dict(model=model, progress=progress, decisions=decisions, **s.as_dict())
            _, count = segment_blocks_distributed(client, remote, out, margin, **options)
        _close(out)
        del out
    seconds = time.perf_counter() - t0
    return LargeResult(target, count, tuple(image.shape[:2]), seconds, decisions)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``segment-large``."""
    from ._cli_common import add_diameter_argument

    p.add_argument("input", help="big TIFF (read lazily as zarr), .zarr or OME-Zarr folder")
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="label image to write: .tif (BigTIFF, uint32), .zarr or .npy",
    )
    p.add_argument("--block-size", type=int, default=DEFAULT_BLOCK, help="block edge, pixels")
    p.add_argument(
        "--margin",
        type=int,
        default=None,
        help="overlap around each block, pixels (default: 4 diameters + halo)",
    )
    p.add_argument("--axes", default=None, help="axes of the input, e.g. YX, CYX, YXC, TCZYX")
    p.add_argument("--channel", type=int, default=None, help="channel to segment (C axis)")
    p.add_argument("--threshold", type=float, default=None, help="foreground cut, 0-1")
    p.add_argument("--no-split", action="store_true", help="do not split touching nuclei")
    p.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE, help="smallest nucleus")
    add_diameter_argument(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--weights",
        default=None,
        help="a weights file, or a bundled model: general (default), stained",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="dask scheduler address, or 'local' for a LocalCluster on this machine",
    )
    p.add_argument(
        "--scheduler-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the scheduler to answer (default "
        f"{DEFAULT_TIMEOUT:.0f}, at most {MAX_TIMEOUT:.0f})",
    )
    p.add_argument("--workers", type=int, default=1, help="LocalCluster worker processes")
    from ._cli_common import add_overwrite_argument

    add_overwrite_argument(p)


def _report(done: int, total: int) -> None:
    print(f"  block {done}/{total}", flush=True)


def _run_with(args: argparse.Namespace, client) -> LargeResult:
    return segment_large(
        args.input,
        args.output,
        args.block_size,
        args.margin,
        args.axes,
        args.channel,
        client,
        _report,
        overwrite=args.overwrite,
        diameter=args.diameter,
        threshold=args.threshold,
        split=not args.no_split,
        min_size=args.min_size,
        device=args.device,
        weights=args.weights,
    )


def _check_args(args: argparse.Namespace) -> None:
    """Everything that can be known wrong before the image is read: exit 2."""
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if not 0 < args.scheduler_timeout <= MAX_TIMEOUT:
        raise ValueError(f"--scheduler-timeout must lie in (0, {MAX_TIMEOUT:.0f}] seconds")
    Settings.of(threshold=args.threshold, min_size=args.min_size, block_size=args.block_size)
    check_request(args.input, args.output, args.margin, args.overwrite)
    NucleusModel(args.weights, args.device)


def _run(args: argparse.Namespace) -> LargeResult:
    if args.scheduler is None:
        return _run_with(args, None)
    from ._distributed import cluster_client

    address = None if args.scheduler == "local" else args.scheduler
    with cluster_client(
        address, n_workers=args.workers, processes=args.workers > 1, timeout=args.scheduler_timeout
    ) as client:
        return _run_with(args, client)


def run(args: argparse.Namespace) -> int:
    """Run ``segment-large``; 0 on success, 1 when it fails, 2 for settings that cannot work."""
    from ._cli_common import one_line

    try:
        _check_args(args)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    try:
        result = _run(args)
    except Exception as exc:  # one line, not a traceback; the old output is untouched
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    h, w = result.shape
    print(
        f"{args.input}: {h}x{w}, {result.count} nuclei, diameter "
        f"{result.decisions.size:.0f} px -> {result.output} ({result.seconds:.1f} s)"
    )
    return 0
