"""The reader thread (``batch.prefetch``): files read ahead, in order, failures kept, stoppable."""

from __future__ import annotations

import threading

import numpy as np
import tifffile

from napari_unet_nuclei.batch import prefetch
from napari_unet_nuclei.batch.file_job import FileOptions
from napari_unet_nuclei.batch.prefetch import Reader, read_one

MEMORY = 1 << 30


def _jobs(tmp_path, n: int) -> list:
    jobs = []
    for i in range(n):
        tifffile.imwrite(tmp_path / f"in{i}.tif", np.full((32, 32), i, np.uint16))
        jobs.append((tmp_path / f"in{i}.tif", tmp_path / f"out{i}.tif"))
    return jobs


def test_read_one_keeps_a_failure_in_the_record(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    bad = read_one(3, tmp_path / "bad.tif", tmp_path / "o.tif", FileOptions(), MEMORY)
    assert bad.index == 3 and bad.arr is None and isinstance(bad.error, ValueError)
    good = read_one(0, *_jobs(tmp_path, 1)[0], FileOptions(), MEMORY)
    assert good.error is None and good.axes == "YX" and good.arr.shape == (32, 32)
    assert good.without_pixels().arr is None and good.without_pixels().axes == "YX"


def test_the_reader_gives_every_file_in_order(tmp_path):
    jobs = _jobs(tmp_path, 5)
    reads = list(Reader(jobs, FileOptions(), depth=2, memory=MEMORY))
    assert [r.index for r in reads] == list(range(5))
    assert [int(r.arr[0, 0]) for r in reads] == list(range(5))


def test_the_reader_reads_at_most_depth_ahead_and_stops(tmp_path, monkeypatch):
    jobs = _jobs(tmp_path, 6)
    started: list[int] = []
    real = prefetch.read_input

    def counting(source, options, memory):
        started.append(1)
        return real(source, options, memory)

    monkeypatch.setattr(prefetch, "read_input", counting)
    reader = Reader(jobs, FileOptions(), depth=2, memory=MEMORY)
    first = next(iter(reader))
    assert first.index == 0
    reader._thread.join(prefetch.POLL_SECONDS * 5)  # blocked: the queue is full
    assert len(started) <= 1 + 2 + 1  # the one taken, the queue, the one waiting to go in
    reader.stop()
    assert not reader._thread.is_alive()
    names = [t.name for t in threading.enumerate()]
    assert "napari-unet-nuclei-reader" not in names
