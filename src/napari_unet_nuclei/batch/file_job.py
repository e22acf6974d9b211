"""One input file -> one label file: read, segment (2D image or stack), write.

The steps are separate so that a batch can run them in different threads and processes
(``folder``); every call into the engine sits in one small function here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._settings import Settings

if TYPE_CHECKING:
    from .._prediction import Segmentation


@dataclass(frozen=True)
class FileOptions:
    """What the user asked for, for every file of a batch: model, settings, axes, overwrite."""

    device: str = "auto"
    weights: str | None = None
    settings: Settings = field(default_factory=Settings)
    axes: str | None = None
    channel: int | None = None
    overwrite: bool = False  # an earlier output of ours may be replaced (nothing else, ever)
    track: bool = False  # time-lapses: one id per nucleus over time (``track_nuclei``)


@dataclass(frozen=True)
class Segmented:
    """The labels of one file, their axes, and the nucleus size measured (2D images)."""

    labels: np.ndarray
    axes: str
    diameter: float | None
    seconds: float
    parents: dict[int, int] | None = None  # tracked time-lapses: {daughter: mother} tracks


@dataclass(frozen=True)
class Outcome:
    """What became of input number ``index`` (0-based): the figures of its line, or the error."""

    index: int
    source: Path
    target: Path
    nuclei: int = 0
    planes: int = 1
    axes: str = "YX"
    diameter: float | None = None
    seconds: float = 0.0
    error: BaseException | None = None
    parents: dict[int, int] | None = None  # tracked time-lapses: {daughter: mother} tracks


def _segment(arr: np.ndarray, axes: str, options: FileOptions) -> Segmentation:
    """The engine on one image or stack: ``NucleusModel.segment`` picks the path."""
    from .._engine import NucleusModel

    model = NucleusModel(options.weights, options.device)
    return model.segment(arr, axes=axes, settings=options.settings)


def _track(labels: np.ndarray, axes: str) -> tuple[np.ndarray, dict[int, int]]:
    """One id per nucleus over the time-lapse, and {daughter: mother} of its tracks."""
    from .._stack import track_nuclei

    if axes != "TYX":
        raise ValueError(f"tracking follows nuclei in a 2D time-lapse (TYX); axes are {axes}")
    tracked = track_nuclei(labels)
    return tracked.labels, tracked.parents


def is_stack(axes: str) -> bool:
    """True when ``axes`` hold planes (T or Z) besides Y, X and colour."""
    return "T" in axes or "Z" in axes


def segment_array(arr: np.ndarray, axes: str, options: FileOptions) -> Segmented:
    """Labels of an image or stack read by ``read_input``; a stack keeps its axes but C."""
    t0 = time.perf_counter()
    segmentation = _segment(arr, axes, options)
    kept = axes.replace("C", "") if is_stack(axes) else "YX"
    labels, parents = segmentation.labels, None
    if options.track and is_stack(axes) and "T" in kept:
        labels, parents = _track(labels, kept)
    seconds = time.perf_counter() - t0
    return Segmented(labels, kept, segmentation.diameter, seconds, parents)


def read_input(
    path: Path, options: FileOptions, memory: int | None = None
) -> tuple[np.ndarray, str]:
    """The pixels of ``path`` and their axes; refused unread when too big for ``memory``."""
    from .._io import check_fits_memory, read_stack

    check_fits_memory(path, memory)
    return read_stack(path, options.axes, options.channel)


def write_output(target: Path, segmented: Segmented, overwrite: bool = False) -> float:
    """Write the labels (a stack with its axes in the TIFF); the seconds it took.

    A tracked time-lapse also gets its lineage, ``<stem>_tracks.csv`` (``write_lineage``).
    Only a file that is free, or (``overwrite``) an earlier output of ours, is written: a
    file that appeared since the batch was checked is left as it is (``_outputs.publish``).
    """
    from .._writer import write_lineage, write_tiff

    t0 = time.perf_counter()
    replace = "ours" if overwrite else "new"
    stack = segmented.labels.ndim > 2
    axes = segmented.axes if stack else None
    write_tiff(target, segmented.labels, axes=axes, replace=replace)
    if segmented.parents is not None:
        write_lineage(target, segmented.labels, segmented.parents, replace)
    return time.perf_counter() - t0


def outcome(index: int, source: Path, target: Path, segmented: Segmented, extra: float) -> Outcome:
    """The figures of a file segmented in ``segmented.seconds + extra`` seconds."""
    labels = segmented.labels
    return Outcome(
        index,
        source,
        target,
        nuclei=int(labels.max(initial=0)),
        planes=int(np.prod(labels.shape[:-2], dtype=np.int64)),
        axes=segmented.axes,
        diameter=segmented.diameter,
        seconds=segmented.seconds + extra,
        parents=segmented.parents,
    )


def run_file(index: int, source: Path, target: Path, options: FileOptions) -> Outcome:
    """Read, segment and write one file; any failure comes back in the outcome."""
    t0 = time.perf_counter()
    try:
        segmented = segment_array(*read_input(source, options), options)
        write_output(target, segmented, options.overwrite)
    except Exception as exc:  # one file's failure: reported, the batch goes on
        return Outcome(index, source, target, error=exc)
    return outcome(index, source, target, segmented, time.perf_counter() - t0 - segmented.seconds)
