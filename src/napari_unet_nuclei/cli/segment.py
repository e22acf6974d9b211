"""The ``segment`` command's options for stacks and batches, and its per-file lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .common import add_renamed_option, one_line

if TYPE_CHECKING:
    from ..batch.file_job import FileOptions, Outcome


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """``--axes``, ``--channel`` and ``--parallel-files`` (``--workers`` before)."""
    p.add_argument(
        "--axes",
        type=axes_value,
        default=None,
        help="axes of the inputs, letters of TZCYX, e.g. ZYX, TYX, CYX (default: from the "
        "file's metadata, else from its shape)",
    )
    p.add_argument(
        "--channel", type=int, default=None, help="the channel to segment, from 0 (C axis)"
    )
    p.add_argument(
        "--parallel-files",
        type=int,
        default=None,
        help="images segmented side by side (threads sharing the cores); 0: one file after "
        "another (default: one per core, at most 8, on a GPU too; 0 for a single file)",
    )
    p.add_argument(
        "--track",
        action="store_true",
        help="time-lapses (TYX): follow each nucleus over time, so it keeps one id in every "
        "frame (moves, divisions, a missed frame; laptrack)",
    )
    add_renamed_option(p, "--workers", "--parallel-files", type=int)


def check_axes_fit(axes: str | None, files: list[Path]) -> None:
    """``--axes`` must name as many axes as every input has (with or without length-1 axes)."""
    from .._io import declared_shape

    for path in files if axes else []:
        declared = declared_shape(path)
        if declared is None:
            continue  # unreadable: reported when it is read
        shape = declared[0]
        squeezed = [n for n in shape if n != 1]
        if len(axes) not in (len(shape), len(squeezed)):
            raise ValueError(
                f"--axes {axes} names {len(axes)} axes but {path} has {len(squeezed)} "
                f"(shape {shape})"
            )


def file_options(args: argparse.Namespace) -> FileOptions:
    """The settings every file of the batch is segmented with."""
    from .._settings import Settings
    from ..batch.file_job import FileOptions
    from .common import segment_settings

    settings = Settings.of(**segment_settings(args))
    return FileOptions(
        args.device,
        args.weights,
        settings,
        args.axes,
        args.channel,
        overwrite=args.overwrite,
        track=args.track,
    )


def _explain(exc: BaseException) -> str:
    """One line for a failed file, naming the option that would fix it."""
    from .._io import ChannelError
    from .._stack import AmbiguousAxesError

    text = one_line(exc)
    if isinstance(exc, AmbiguousAxesError):
        example = exc.guess.axes.replace("C", "Z") if "Z" not in exc.guess.axes else "ZYX"
        return f"{text}; name the axes with --axes (e.g. --axes {example})"
    if isinstance(exc, ChannelError):
        return f"{text} (--channel N, N from 0)"
    return text


def _line(done: Outcome) -> str:
    """What became of one segmented file, for its ``[i/N]`` line."""
    from .._writer import hyperstack_order

    took = f"-> {done.target} ({done.seconds:.1f} s)"
    if len(done.axes) > 2:
        return f"{done.planes} planes ({hyperstack_order(done.axes)}), {done.nuclei} nuclei {took}"
    size = f"{done.diameter:.0f} px" if done.diameter else "n/a"
    return f"{done.nuclei} nuclei, diameter {size} {took}"


def reporter(total: int, problems: list[str]) -> Callable[[Outcome], None]:
    """The function that prints each file's line (in input order) and keeps its problem."""

    def report(done: Outcome) -> None:
        head = f"[{done.index + 1}/{total}] {done.source.name}"
        if done.error is None:
            print(f"{head}: {_line(done)}", flush=True)
            return
        msg = _explain(done.error)
        problems.append(msg if str(done.source) in msg else f"{done.source}: {msg}")
        print(f"{head}: FAILED ({msg})", file=sys.stderr, flush=True)

    return report


def axes_value(text: str) -> str:
    """``--axes``: letters of TZCYX, each at most once, Y and X among them."""
    from .._stack import resolve_axes

    try:
        return resolve_axes((2,) * len(text), text.upper())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
