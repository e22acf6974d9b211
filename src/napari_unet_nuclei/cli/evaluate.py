"""``napari-unet-nuclei evaluate``: print the scores of a split, per folder and per kind."""

from __future__ import annotations

import argparse
import sys
import time

from ..training.evaluate import evaluate_folders, format_table
from .common import add_diameter_argument, add_stain_argument, one_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``napari-unet-nuclei evaluate``."""
    p.add_argument(
        "--data",
        action="append",
        required=True,
        help="DSB2018-style folder with index.tsv; repeat for several (scored each on its own)",
    )
    p.add_argument("--split", default="val", help="val (default), train, ... or all")
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
    add_stain_argument(p)
    p.add_argument("--tta", action="store_true", help="average over flips (4x slower)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table: one row per kind, per folder when there are several."""
    from .._settings import Settings

    t0 = time.perf_counter()
    settings = dict(
        threshold=args.threshold,
        split=not args.no_split,
        diameter=args.diameter,
        tta=args.tta,
        stain=args.stain,
    )
    try:
        checked = Settings.of(**settings)
    except ValueError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    scores = evaluate_folders(args.data, args.split, args.weights, args.device, args.limit, checked)
    print(format_table(scores if len(scores) > 1 else next(iter(scores.values()))))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0
