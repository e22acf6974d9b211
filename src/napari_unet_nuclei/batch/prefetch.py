"""A thread that reads the next input files while the current ones are segmented."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .file_job import FileOptions, read_input

POLL_SECONDS = 0.1  # how often a blocked reader looks whether it should stop


@dataclass(frozen=True)
class Read:
    """Input number ``index`` read (pixels and axes, in ``seconds``), or why it could not be."""

    index: int
    source: Path
    target: Path
    arr: np.ndarray | None = None
    axes: str = ""
    seconds: float = 0.0
    error: BaseException | None = None

    def without_pixels(self) -> Read:
        """The same record without its pixels, once they are handed on (memory)."""
        return replace(self, arr=None)


def read_one(index: int, source: Path, target: Path, options: FileOptions, memory: int) -> Read:
    """Read one input; a failure is kept in the record."""
    t0 = time.perf_counter()
    try:
        arr, axes = read_input(source, options, memory)
    except Exception as exc:  # reported as this file's failure
        return Read(index, source, target, error=exc)
    return Read(index, source, target, arr, axes, time.perf_counter() - t0)


class Reader:
    """Iterates over the jobs read, at most ``depth`` images ahead, in a daemon thread."""

    def __init__(
        self, jobs: list[tuple[Path, Path]], options: FileOptions, depth: int, memory: int
    ) -> None:
        self._queue: queue.Queue[Read] = queue.Queue(max(1, depth))
        self._stop = threading.Event()
        self._count = len(jobs)
        self._thread = threading.Thread(
            target=self._run,
            args=(jobs, options, memory),
            name="napari-unet-nuclei-reader",
            daemon=True,
        )
        self._thread.start()

    def _run(self, jobs: list[tuple[Path, Path]], options: FileOptions, memory: int) -> None:
        for index, (source, target) in enumerate(jobs):
            item = read_one(index, source, target, options, memory)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=POLL_SECONDS)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set():
                return

    def __iter__(self) -> Iterator[Read]:
        for _ in range(self._count):
            yield self._queue.get()

    def stop(self) -> None:
        """Let the thread end (after the file it is reading) and drop what it read."""
        self._stop.set()
        self._thread.join(POLL_SECONDS * 10)
