"""``napari-unet-nuclei segment-large``: options, checks and messages (engine: ``batch.large``)."""

from __future__ import annotations

import argparse
import sys

from .._engine import NucleusModel
from .._postprocess import DEFAULT_MIN_SIZE
from .._settings import DEFAULT_BLOCK, Settings
from ..batch.large import LargeResult, check_request, segment_large
from .common import segment_settings

DEFAULT_TIMEOUT = 30.0  # seconds a dask scheduler has to answer
MAX_TIMEOUT = 60.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``segment-large``."""
    from .common import add_diameter_argument, add_renamed_option, add_stain_argument

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
    add_stain_argument(p)
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
    p.add_argument(
        "--cluster-workers", type=int, default=1, help="worker processes of a local cluster"
    )
    add_renamed_option(p, "--workers", "--cluster-workers", type=int)
    from .common import add_overwrite_argument

    add_overwrite_argument(p)


def _report(done: int, total: int) -> None:
    print(f"  block {done}/{total}", flush=True)


def _run_with(args: argparse.Namespace, client) -> LargeResult:
    return segment_large(
        args.input,
        args.output,
        weights=args.weights,
        device=args.device,
        block_size=args.block_size,
        margin=args.margin,
        axes=args.axes,
        channel=args.channel,
        client=client,
        progress=_report,
        overwrite=args.overwrite,
        **segment_settings(args),
    )


def _check_args(args: argparse.Namespace) -> None:
    """Everything that can be known wrong before the image is read: exit 2."""
    if args.cluster_workers < 1:
        raise ValueError(f"--cluster-workers must be at least 1, got {args.cluster_workers}")
    if not 0 < args.scheduler_timeout <= MAX_TIMEOUT:
        raise ValueError(f"--scheduler-timeout must lie in (0, {MAX_TIMEOUT:.0f}] seconds")
    Settings.of(block_size=args.block_size, **segment_settings(args))
    check_request(args.input, args.output, args.margin, args.overwrite)
    NucleusModel(args.weights, args.device)


def _run(args: argparse.Namespace) -> LargeResult:
    if args.scheduler is None:
        return _run_with(args, None)
    from ..batch.cluster import cluster_client

    address = None if args.scheduler == "local" else args.scheduler
    with cluster_client(
        address,
        n_workers=args.cluster_workers,
        processes=args.cluster_workers > 1,
        timeout=args.scheduler_timeout,
    ) as client:
        return _run_with(args, client)


def run(args: argparse.Namespace) -> int:
    """Run ``segment-large``; 0 on success, 1 when it fails, 2 for settings that cannot work."""
    from .common import one_line

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
