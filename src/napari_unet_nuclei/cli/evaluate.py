"""``napari-unet-nuclei evaluate``: print the scores of ``evaluate`` for a split."""

from __future__ import annotations

import argparse
import time

from ..training.evaluate import evaluate, format_table
from .common import add_diameter_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``napari-unet-nuclei evaluate``."""
    p.add_argument("--data", required=True, help="DSB2018-style folder with index.tsv")
    p.add_argument("--split", default="val")
    p.add_argument(
        "--weights",
        default=None,
        help="a weights file, or a bundled model: general (default), stained",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--threshold", type=float, default=None)
    p.add_argument("--no-split", action="store_true", help="do not split touching nuclei")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    add_diameter_argument(p)
    p.add_argument("--tta", action="store_true", help="average over flips (4x slower)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table."""
    t0 = time.perf_counter()
    scores = evaluate(
        args.data,
        args.split,
        args.weights,
        args.device,
        args.threshold,
        not args.no_split,
        args.limit,
        diameter=args.diameter,
        tta=args.tta,
    )
    print(format_table(scores))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0
