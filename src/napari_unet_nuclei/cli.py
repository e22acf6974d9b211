"""``napari-unet-nuclei``: segment, train and evaluate from the shell.

Exit codes: 0 all inputs done; 1 some inputs could not be read or segmented
(the others were still written); 2 bad command line or unusable output folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def _segment(args: argparse.Namespace) -> int:
    from ._api import predict
    from ._device import resolve_device
    from ._io import find_images, read_image
    from ._writer import write_tiff

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        print(f"error: output {out} exists and is not a folder", file=sys.stderr)
        return 2
    try:
        resolve_device(args.device)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    files, problems = find_images(args.inputs)
    for i, path in enumerate(files, 1):
        t0 = time.perf_counter()
        try:
            pred = predict(read_image(path), args.device, args.weights, args.diameter,
                           tta=args.tta)
            labels = pred.labels(args.threshold, not args.no_split, args.min_size)
            target = write_tiff(out / f"{path.stem}.tif", labels)
        except (ValueError, OSError) as exc:
            problems.append(str(exc))
            print(f"[{i}/{len(files)}] {path.name}: FAILED ({exc})", file=sys.stderr)
            continue
        size = f"{pred.diameter:.0f} px" if pred.diameter else "n/a"
        print(f"[{i}/{len(files)}] {path.name}: {int(labels.max())} nuclei, diameter {size} "
              f"-> {target} ({time.perf_counter() - t0:.1f} s)", flush=True)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def diameter_value(text: str) -> float | str | None:
    """``auto``, ``none`` (run at the image's own scale) or a diameter in pixels."""
    if text.lower() in ("auto", "none"):
        return None if text.lower() == "none" else "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, none or pixels, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the diameter must be positive")
    return value


def add_diameter_argument(p: argparse.ArgumentParser) -> None:
    """The shared ``--diameter`` option."""
    p.add_argument("--diameter", type=diameter_value, default="auto",
                   help="typical nucleus diameter in pixels; 'auto' (default) estimates it, "
                        "'none' runs at the image's own scale")


def _add_segment(sub: argparse._SubParsersAction) -> None:
    from ._postprocess import DEFAULT_MIN_SIZE

    p = sub.add_parser("segment", help="segment image files or folders of them",
                       description="Write DIR/<stem>.tif, one label image per input.")
    p.add_argument("inputs", nargs="+", help="TIFF/PNG/JPEG files or folders of them")
    p.add_argument("--output", "-o", required=True, help="folder for the label images")
    p.add_argument("--threshold", type=float, default=None,
                   help="foreground cut, 0-1 (default 0.5)")
    p.add_argument("--no-split", action="store_true", help="do not split touching nuclei")
    p.add_argument("--min-size", type=int, default=DEFAULT_MIN_SIZE,
                   help="smallest nucleus, pixels")
    add_diameter_argument(p)
    p.add_argument("--tta", action="store_true", help="average over flips (4x slower)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--weights", default=None,
                   help="a weights file, or a bundled model: general (default), stained")
    p.set_defaults(func=_segment)


def _sample(args: argparse.Namespace) -> int:
    import tifffile

    from ._synthetic import synthetic_nuclei

    image, labels = synthetic_nuclei((args.size, args.size), seed=args.seed)
    tifffile.imwrite(args.output, image)
    if args.labels:
        tifffile.imwrite(args.labels, labels, imagej=True)
    print(f"wrote a {args.size}x{args.size} synthetic image with {int(labels.max())} nuclei "
          f"to {args.output}")
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write a synthetic nuclei image (uint16 TIFF) to try things")
    p.add_argument("output", help="TIFF file to write")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", default=None, help="also write the true labels here")
    p.set_defaults(func=_sample)


def _train(args: argparse.Namespace) -> int:
    from .train import train

    train(args)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluate import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its sub-commands."""
    from . import _cli_export, _cli_finetune, _cli_large, evaluate, train

    parser = argparse.ArgumentParser(prog="napari-unet-nuclei", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_segment(sub)
    _add_sample(sub)
    p = sub.add_parser("segment-large", help="segment one big TIFF / zarr / OME-Zarr image "
                       "block by block (bounded memory, optional dask cluster)")
    _cli_large.add_arguments(p)
    p.set_defaults(func=_cli_large.run)
    p = sub.add_parser("train", help="train the U-Net on a DSB2018-style folder")
    train.add_arguments(p)
    p.set_defaults(func=_train)
    p = sub.add_parser("finetune", help="fine-tune a model on your own images and labels")
    _cli_finetune.add_arguments(p)
    p.set_defaults(func=_cli_finetune.run)
    p = sub.add_parser("export", help="write a model as a bioimage.io package (.zip)")
    _cli_export.add_arguments(p)
    p.set_defaults(func=_cli_export.run)
    p = sub.add_parser("evaluate", help="score the weights on a split of a DSB2018-style folder")
    evaluate.add_arguments(p)
    p.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
