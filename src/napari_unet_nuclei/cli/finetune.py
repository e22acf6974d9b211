"""``napari-unet-nuclei finetune``: fine-tune a model on a folder of images and their labels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import new_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``napari-unet-nuclei finetune``."""
    p.add_argument("--images", required=True, help="folder of images (TIFF, PNG, JPEG)")
    p.add_argument(
        "--labels", required=True, help="folder of label images: for each image, <image stem>.tif"
    )
    p.add_argument("--output", "-o", required=True, help="new weights file to write (.pt)")
    p.add_argument(
        "--weights",
        default="general",
        help="the model to start from: general (default), stained, or a file",
    )
    p.add_argument("--steps", type=int, default=None, help="most training steps (default 60)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--keep-anyway",
        action="store_true",
        help="write the model even when it scores below the base on the held-out part",
    )


def label_pairs(images: Path, labels: Path) -> tuple[list[Path], list[Path], list[str]]:
    """Image files with a label file of the same stem; plus the images that have none."""
    from .._io import find_images

    files, problems = find_images([images])
    with_labels = [(f, labels / f"{f.stem}.tif") for f in files]
    missing = [f"{f.name}: no label file {lab}" for f, lab in with_labels if not lab.is_file()]
    kept = [(f, lab) for f, lab in with_labels if lab.is_file()]
    return [f for f, _ in kept], [lab for _, lab in kept], problems + missing


def run(args: argparse.Namespace) -> int:
    """Fine-tune and report; exit 0 when a model was written, 1 when none, 2 on errors."""
    from .._io import read_image
    from ..training.finetune import finetune

    if args.steps is not None and args.steps < 1:
        print(f"error: --steps must be at least 1, got {args.steps}", file=sys.stderr)
        return 2
    out = new_output(args.output, "fine-tuning")
    if out is None:
        return 2
    images, labels, problems = label_pairs(Path(args.images), Path(args.labels))
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not images:
        print("error: no image with a label file to learn from", file=sys.stderr)
        return 2
    try:
        pairs = [(read_image(i), read_image(lab)) for i, lab in zip(images, labels, strict=True)]
        result = finetune(
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            args.weights,
            args.steps,
            args.device,
            out,
            progress=_print_progress,
            keep_worse=args.keep_anyway,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"held-out AP@0.5: base model {result.base_score:.3f}, fine-tuned "
        f"{result.score:.3f} ({result.score - result.base_score:+.3f}; {result.images} "
        f"images, {result.nuclei} nuclei, {result.seconds:.0f} s)"
    )
    if result.path is None:
        print(
            "the fine-tuned model is worse than the base on the held-out labels: no model "
            "written (add --keep-anyway to write it all the same)"
        )
        return 1
    worse = " although it scored below the base (--keep-anyway)" if result.worse else ""
    print(
        f"wrote {result.path}{worse} (best after {result.steps} steps); use it with "
        f"`napari-unet-nuclei segment ... --weights {result.path}`"
    )
    return 0


def _print_progress(step: int, steps: int, loss: float, seconds_left: float) -> None:
    if step == 1 or step % 20 == 0 or step == steps:
        print(
            f"step {step}/{steps} loss {loss:.4f}, at most {seconds_left:.0f} s left",
            flush=True,
        )
