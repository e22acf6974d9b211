"""``napari-unet-nuclei``: segment, train and evaluate from the shell.

Exit codes: 0 all inputs done; 1 some inputs could not be read or segmented
(the others were still written); 2 bad command line, settings, data folder or output
(an output that would replace an input, or a file that is not ours); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .common import add_diameter_argument, add_overwrite_argument, add_stain_argument, one_line
from .segment import add_batch_arguments


def _check_segment(args: argparse.Namespace) -> None:
    """Settings that can never work, refused before any file is read."""
    from .._engine import NucleusModel
    from .._settings import Settings
    from .common import segment_settings

    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise ValueError(f"output {args.output} exists and is not a folder")
    Settings.of(**segment_settings(args))
    if args.channel is not None and args.channel < 0:
        raise ValueError(f"--channel counts from 0, got {args.channel}")
    if args.parallel_files is not None and args.parallel_files < 0:
        raise ValueError(f"--parallel-files must not be negative, got {args.parallel_files}")
    NucleusModel(args.weights, args.device)


def _plan_segment(args: argparse.Namespace, files: list[Path]) -> tuple[list[Path], list[str]]:
    """The label file of every input, checked against the inputs and earlier outputs."""
    from .._io import output_names
    from .._outputs import (
        UnsafeOutputError,
        check_output,
        check_output_folder,
        same_path,
        tracks_path,
    )
    from .segment import check_axes_fit

    out = Path(args.output)
    for item in args.inputs:
        if Path(item).is_dir() and same_path(item, out):
            raise UnsafeOutputError(
                f"output folder {out} is also an input folder: its images "
                "would be mixed with (or replaced by) their labels; "
                "choose another --output"
            )
    check_axes_fit(args.axes, files)
    names, notes = output_names(files)
    targets = [check_output(out / name, files, args.overwrite) for name in names]
    for target in targets if args.track else []:
        check_output(tracks_path(target), files, args.overwrite)
    check_output_folder(out)
    return targets, notes


def _segment(args: argparse.Namespace) -> int:
    from .._io import find_images
    from ..batch.allocator import keep_freed_memory
    from ..batch.folder import run_batch
    from .segment import file_options, reporter

    files, problems = find_images(args.inputs)
    try:
        _check_segment(args)
        targets, notes = _plan_segment(args, files)
        Path(args.output).mkdir(parents=True, exist_ok=True)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}", flush=True)
    jobs = list(zip(files, targets, strict=True))
    keep_freed_memory()  # a batch job: reuse memory between images (see batch/allocator.py)
    run_batch(jobs, file_options(args), reporter(len(files), problems), args.parallel_files)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _add_segment(sub: argparse._SubParsersAction) -> None:
    from .._postprocess import DEFAULT_MIN_SIZE

    p = sub.add_parser(
        "segment",
        help="segment image files or folders of them",
        description="Write DIR/<stem>.tif, one label image per input: a stack (Z, time) "
        "gives a label stack with the same planes.",
    )
    p.add_argument(
        "inputs", nargs="+", help="TIFF/OME-TIFF/PNG/JPEG files (images or stacks) or folders"
    )
    p.add_argument("--output", "-o", required=True, help="folder for the label images")
    p.add_argument(
        "--threshold", type=float, default=None, help="foreground cut, 0-1 (default 0.5)"
    )
    p.add_argument("--no-split", action="store_true", help="do not split touching nuclei")
    p.add_argument(
        "--min-size",
        type=int,
        default=DEFAULT_MIN_SIZE,
        help="smallest nucleus, pixels (of the network's grid for an image enlarged over 2x)",
    )
    add_diameter_argument(p)
    add_stain_argument(p)
    p.add_argument("--tta", action="store_true", help="average over flips (4x slower)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--weights",
        default=None,
        help="a weights file, or a bundled model: general (default), stained",
    )
    add_batch_arguments(p)
    add_overwrite_argument(p)
    p.set_defaults(func=_segment)


SAMPLE_SIZES = (32, 16384)  # a few nuclei at least; at most 512 MB of image


def _check_sample(args: argparse.Namespace) -> None:
    """The size, and outputs that may be written (never one over the other)."""
    from .._outputs import check_output

    low, high = SAMPLE_SIZES
    if not low <= args.size <= high:
        raise ValueError(f"--size must lie between {low} and {high} pixels, got {args.size}")
    for path, other in ((args.output, args.labels), (args.labels, args.output)):
        if path:
            check_output(path, [other] if other else [], args.overwrite)
            if not Path(path).parent.is_dir():
                raise ValueError(f"cannot write {path}: the folder {Path(path).parent} is missing")


def _sample(args: argparse.Namespace) -> int:
    import tifffile

    from .._outputs import SOFTWARE
    from .._sample_data import synthetic_nuclei
    from .._writer import _write, write_tiff

    replace = "ours" if args.overwrite else "new"
    try:
        _check_sample(args)
        image, labels = synthetic_nuclei((args.size, args.size), seed=args.seed)
        _write(args.output, lambda fh: tifffile.imwrite(fh, image, software=SOFTWARE), replace)
        if args.labels:
            write_tiff(args.labels, labels, replace=replace)
    except (ValueError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(
        f"wrote a {args.size}x{args.size} synthetic image with {int(labels.max())} nuclei "
        f"to {args.output}"
    )
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write a synthetic nuclei image (uint16 TIFF) to try things")
    p.add_argument("output", help="TIFF file to write")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", default=None, help="also write the true labels here")
    add_overwrite_argument(p)
    p.set_defaults(func=_sample)


def _average(args: argparse.Namespace) -> int:
    from .._model import average_weights, save_weights
    from .._outputs import check_new_file

    try:  # a new file (so never an input), never inside the package or its weights/
        target = check_new_file(args.output, "average")
        if not target.parent.is_dir():
            raise ValueError(f"cannot write {target}: the folder {target.parent} is missing")
        model = average_weights(args.first, args.second, args.share)
        save_weights(model, target, model.meta, replace="new")
    except (ValueError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {1 - args.share:g} x {args.first} + {args.share:g} x {args.second} to {target}")
    return 0


def _add_average(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("average", help="average the weights of a model and a fine-tuned copy of it")
    p.add_argument("first", help="a weights file, or a bundled model: general, stained")
    p.add_argument("second", help="a weights file of the same architecture")
    p.add_argument("--share", type=float, default=0.5, help="the second model's share")
    p.add_argument("--output", required=True, help="a new weights file")
    p.set_defaults(func=_average)


def _evaluate(args: argparse.Namespace) -> int:
    from ..training.dataset import DataError
    from .evaluate import run

    try:
        return run(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its sub-commands."""
    from .evaluate import add_arguments as evaluate_arguments
    from .export import add_arguments as export_arguments
    from .export import run as export_run
    from .finetune import add_arguments as finetune_arguments
    from .finetune import run as finetune_run
    from .large import add_arguments as large_arguments
    from .large import run as large_run
    from .train import add_arguments as train_arguments
    from .train import run as train_run

    parser = argparse.ArgumentParser(
        prog="napari-unet-nuclei",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_segment(sub)
    _add_sample(sub)
    fronts = [  # (name, help, options, what runs it)
        (
            "segment-large",
            "segment one big TIFF / zarr / OME-Zarr image block by block (bounded memory, "
            "optional dask cluster)",
            large_arguments,
            large_run,
        ),
        ("train", "train the U-Net on DSB2018-style folders", train_arguments, train_run),
        (
            "finetune",
            "fine-tune a model on your own images and labels",
            finetune_arguments,
            finetune_run,
        ),
        ("export", "write a model as a bioimage.io package (.zip)", export_arguments, export_run),
        (
            "evaluate",
            "score the weights on a split of DSB2018-style folders",
            evaluate_arguments,
            _evaluate,
        ),
    ]
    for name, help_text, add_arguments, run in fronts:
        p = sub.add_parser(name, help=help_text)
        add_arguments(p)
        p.set_defaults(func=run)
    _add_average(sub)
    return parser


def _stop(signum: int, frame: object) -> None:
    """SIGTERM as an interrupt, so temporary files are removed on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; SIGINT or SIGTERM exit 130 with nothing half-written."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main else None
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(
            "interrupted: earlier outputs are untouched, no partial file is left", file=sys.stderr
        )
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
