"""A batch of image files as a pipeline: read ahead, segment in several processes, write.

A reader thread reads the next images while the network runs. Images are segmented side
by side by this process and ``processes - 1`` worker processes (started with 'spawn':
torch and threads are loaded here), each running torch on its share of the cores.
Labels come back here to be written, so stopping the workers at any moment (Ctrl-C,
SIGTERM) cannot leave a partial file. Outcomes are reported in input order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from ._file_job import (
    FileOptions,
    Outcome,
    Segmented,
    outcome,
    run_file,
    segment_array,
    write_output,
)
from ._reader import Read, Reader

Job = tuple[Path, Path]  # (input file, label file)
Report = Callable[[Outcome], None]
Result = Segmented | BaseException  # what segmenting one image gave
MAX_PROCESSES = 8  # default ceiling: each process holds torch, the model and its own images
PROCESS_BYTES = 1 << 30  # memory per process by default (1 MP images peak near 0.65 GB)
# Batches smaller than this run the plain loop by default: below it, starting a worker (importing
# torch) costs as much as the pipeline gains on two idle cores (README, Performance).
PIPELINE_PIXELS = 12_000_000
QUEUED_PER_WORKER = 2  # images handed to each worker at a time: one running, one waiting
PREFETCH = 2  # images read ahead


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_processes(jobs: list[Job], device: str) -> int:
    """Processes for a batch: one per core, or 0 (the plain loop).

    At most MAX_PROCESSES, 2 on a GPU, and one per PROCESS_BYTES of the memory images may
    use; 0 for a single file or a batch too small to repay starting workers.
    """
    from ._io import declared_size, memory_limit

    sizes = [declared_size(source) for source, _ in jobs]
    pixels = sum(size[0] for size in sizes if size is not None)
    if len(jobs) < 2 or pixels < PIPELINE_PIXELS:
        return 0
    ceiling = MAX_PROCESSES if device == "cpu" else 2  # each GPU process holds a CUDA context
    return max(1, min(cores(), ceiling, len(jobs), memory_limit() // PROCESS_BYTES))


def run_sequential(jobs: list[Job], options: FileOptions, report: Report) -> None:
    """The plain loop: each file read, segmented and written before the next."""
    for index, (source, target) in enumerate(jobs):
        report(run_file(index, source, target, options))


def run_batch(
    jobs: list[Job], options: FileOptions, report: Report, processes: int | None = None
) -> None:
    """Segment every job; ``processes`` 0 is the plain loop, None chooses from the cores."""
    from ._device import resolve_device

    if processes is None:
        processes = default_processes(jobs, resolve_device(options.device).type)
    processes = min(processes, len(jobs))  # no worker without a file
    if processes == 0:
        run_sequential(jobs, options, report)
    else:
        run_pipeline(jobs, options, report, processes)


class InOrder:
    """Passes outcomes to ``report`` in input order, holding those that come early."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._held: dict[int, Outcome] = {}
        self._next = 0

    def add(self, done: Outcome) -> None:
        """Take one outcome; report it and every held one that follows it."""
        self._held[done.index] = done
        while self._next in self._held:
            self._report(self._held.pop(self._next))
            self._next += 1


def _init_worker(threads: int, options: FileOptions) -> None:
    """A worker: Ctrl-C is the parent's to handle; torch on ``threads`` cores; model loaded."""
    import signal

    import torch

    from ._file_job import _predict

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _predict(np.zeros((16, 16), np.float32), options)  # loads the weights once


def _work(arr: np.ndarray, axes: str, options: FileOptions) -> Result:
    """In a worker: the labels of one image, or the error (one that survives pickling)."""
    import pickle

    try:
        return segment_array(arr, axes, options)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            return RuntimeError(f"{type(exc).__name__}: {exc}")
        return exc


def _start_pool(workers: int, threads: int, options: FileOptions) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers,
        multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, options),
    )


def _stop_pool(pool: ProcessPoolExecutor, finished: bool) -> None:
    """Shut the pool down; unless it ``finished``, drop what is queued and end the workers."""
    if finished:
        pool.shutdown(wait=True)
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()  # they write no files: labels are written here
    for process in processes:
        process.join(5)


class _Pipeline:
    """The state of one run: the pool, the images in it, and the report in order."""

    def __init__(self, options: FileOptions, report: Report, processes: int, threads: int) -> None:
        self.options = options
        self.order = InOrder(report)
        self.workers = processes - 1
        self.threads = threads
        self.pool = _start_pool(self.workers, self.threads, options) if self.workers else None
        self.started = self.pool  # kept to shut down, even after it broke
        self.pending: dict[Future, Read] = {}

    def take(self, item: Read) -> None:
        """Fail it, hand it to a worker with room, or segment it here."""
        if item.error is not None:
            self.order.add(Outcome(item.index, item.source, item.target, error=item.error))
        elif self.pool is not None and len(self.pending) < QUEUED_PER_WORKER * self.workers:
            try:
                future = self.pool.submit(_work, item.arr, item.axes, self.options)
            except BrokenProcessPool:
                self.pool = None
                self.take(item)
                return
            self.pending[future] = item.without_pixels()
        else:
            self._finish(item, _here(item, self.options))

    def collect(self, block: bool) -> None:
        """Write and report the images the workers are done with (all of them if ``block``)."""
        while self.pending:
            done, _ = wait(list(self.pending), timeout=None if block else 0)
            if not done:
                return
            for future in sorted(done, key=lambda f: self.pending[f].index):
                self._finish(self.pending.pop(future), _result(future))

    def _finish(self, item: Read, result: Result) -> None:
        """Write the labels and report the outcome (or report the failure)."""
        if isinstance(result, BrokenProcessPool):
            self.pool = None  # a worker died (out of memory?): the rest is segmented here
        if isinstance(result, BaseException):
            self.order.add(Outcome(item.index, item.source, item.target, error=result))
            return
        try:
            seconds = write_output(item.target, result)
        except Exception as exc:
            self.order.add(Outcome(item.index, item.source, item.target, error=exc))
            return
        extra = seconds + item.seconds
        self.order.add(outcome(item.index, item.source, item.target, result, extra))


def _here(item: Read, options: FileOptions) -> Result:
    """Segment in this process: the labels, or the error."""
    try:
        return segment_array(item.arr, item.axes, options)
    except Exception as exc:
        return exc


def _result(future: Future) -> Result:
    """A worker's result; a dead worker as an error."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        return BrokenProcessPool(f"a worker process ended abruptly (out of memory?): {exc}")


def run_pipeline(
    jobs: list[Job],
    options: FileOptions,
    report: Report,
    processes: int = 2,
    threads: int | None = None,
    prefetch: int = PREFETCH,
) -> None:
    """Segment the jobs in ``processes`` processes (this one included), reading ahead.

    Each process runs torch on ``threads`` cores (default: its share of this machine's).
    """
    import torch

    from ._io import memory_limit

    threads = max(1, cores() // processes) if threads is None else threads
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    run, reader, finished = None, None, False
    try:
        run = _Pipeline(options, report, processes, threads)
        reader = Reader(jobs, options, prefetch, memory_limit() // processes)
        for item in reader:
            run.collect(block=False)
            run.take(item)
        run.collect(block=True)
        finished = True
    finally:
        torch.set_num_threads(before)
        if reader is not None:
            reader.stop()
        if run is not None and run.started is not None:
            _stop_pool(run.started, finished and run.pool is not None)
