"""A batch of image files as a pipeline: read ahead, segment side by side, write.

A reader thread reads the next images while the network runs. Images are segmented side
by side in ``workers`` threads, torch running on each thread's share of the cores: the
network and the post-processing (seeds, watershed) release Python's lock, so one image's
single-threaded steps overlap another's network. Labels are written here, in the calling
thread, in input order, each just before its outcome is reported: stopping at any moment
(Ctrl-C, SIGTERM, a report that raises) leaves no partial file, and no file written that
was not reported (a caller that adds a measurements CSV per report never misses one).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from .file_job import (
    FileOptions,
    Outcome,
    Segmented,
    outcome,
    run_file,
    segment_array,
    write_output,
)
from .prefetch import Read, Reader

Job = tuple[Path, Path]  # (input file, label file)
Report = Callable[[Outcome], None]
Result = Segmented | Exception  # what segmenting one image gave
MAX_WORKERS = 8  # default ceiling of images segmented side by side
WORKER_BYTES = 1 << 30  # memory per image in flight by default
QUEUED_PER_WORKER = 2  # images handed to each worker at a time: one running, one waiting
PREFETCH = 2  # images read ahead


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(jobs: list[Job]) -> int:
    """Images segmented side by side: one per core, or 0 (the plain loop) for one file.

    At most MAX_WORKERS, and one per WORKER_BYTES of the memory images may use. The same on
    a GPU: there the CPU steps (seeds, watershed) are the slow part and run on every core,
    while the network takes one batch at a time (``_inference.device_lock``).
    """
    from .._io import memory_limit

    if len(jobs) < 2:
        return 0
    return max(1, min(cores(), MAX_WORKERS, len(jobs), memory_limit() // WORKER_BYTES))


def run_sequential(jobs: list[Job], options: FileOptions, report: Report) -> None:
    """The plain loop: each file read, segmented and written before the next."""
    for index, (source, target) in enumerate(jobs):
        report(run_file(index, source, target, options))


def run_batch(
    jobs: list[Job], options: FileOptions, report: Report, parallel_files: int | None = None
) -> None:
    """Segment every job, ``parallel_files`` side by side (``--parallel-files``).

    0 is the plain loop; None chooses from the cores and memory (``default_workers``).
    """
    workers = default_workers(jobs) if parallel_files is None else parallel_files
    workers = min(workers, len(jobs))  # no worker without a file
    if workers == 0:
        run_sequential(jobs, options, report)
    else:
        run_pipeline(jobs, options, report, workers)


class InOrder:
    """Writes and reports outcomes in input order, holding those that come early unwritten."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._held: dict[int, Callable[[], Outcome]] = {}
        self._next = 0

    def add(self, index: int, make: Callable[[], Outcome]) -> None:
        """Take job ``index``'s outcome, made (its labels written) only when its turn comes.

        Then report it and every held one that follows it. If a report raises, the held
        outcomes after it are never made: nothing is written that was not reported.
        """
        self._held[index] = make
        while self._next in self._held:
            self._report(self._held.pop(self._next)())
            self._next += 1


def _segment(item: Read, options: FileOptions) -> Result:
    """In a worker thread: the labels of one image, or the error."""
    try:
        return segment_array(item.arr, item.axes, options)
    except Exception as exc:  # this file's failure, reported in order
        return exc


def _written(item: Read, result: Result, overwrite: bool) -> Outcome:
    """Write the labels; the outcome (or the failure, of segmenting or of writing)."""
    if isinstance(result, BaseException):
        return Outcome(item.index, item.source, item.target, error=result)
    try:
        seconds = write_output(item.target, result, overwrite)
    except Exception as exc:
        return Outcome(item.index, item.source, item.target, error=exc)
    return outcome(item.index, item.source, item.target, result, seconds + item.seconds)


def _collect(pending: dict[Future, Read], order: InOrder, until: int, overwrite: bool) -> None:
    """Write and report finished images until at most ``until`` are still running."""
    while len(pending) > until:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: pending[f].index):
            item, result = pending.pop(future), future.result()
            order.add(item.index, lambda i=item, r=result: _written(i, r, overwrite))


def run_pipeline(
    jobs: list[Job],
    options: FileOptions,
    report: Report,
    workers: int = 2,
    threads: int | None = None,
    prefetch: int = PREFETCH,
) -> None:
    """Segment the jobs in ``workers`` threads, reading ahead and writing in order.

    torch runs on ``threads`` cores per image (default: each worker's share of this
    machine's); the setting is restored afterwards.
    """
    import torch

    from .._io import memory_limit

    threads = max(1, cores() // workers) if threads is None else threads
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    order, pending = InOrder(report), {}
    pool = ThreadPoolExecutor(workers, thread_name_prefix="napari-unet-nuclei-file")
    reader, finished = None, False
    try:
        reader = Reader(jobs, options, prefetch, memory_limit() // workers)
        for item in reader:
            if item.error is not None:
                failed = Outcome(item.index, item.source, item.target, error=item.error)
                order.add(item.index, lambda f=failed: f)
                continue
            _collect(
                pending, order, until=QUEUED_PER_WORKER * workers - 1, overwrite=options.overwrite
            )
            pending[pool.submit(_segment, item, options)] = item.without_pixels()
        _collect(pending, order, until=0, overwrite=options.overwrite)
        finished = True
    finally:  # on Ctrl-C: queued images are dropped; running ones end, unwritten
        pool.shutdown(wait=finished, cancel_futures=True)
        if reader is not None:
            reader.stop()
        torch.set_num_threads(before)
