"""A folder as a pipeline (``_folder``): same labels as the plain loop, failures, order, Ctrl-C.

The pipeline's worker threads run the tiny test model on small synthetic images.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.batch.file_job import FileOptions, Outcome
from napari_unet_nuclei.batch.folder import InOrder, run_pipeline
from napari_unet_nuclei.cli import segment as _cli_segment
from napari_unet_nuclei.cli.app import main

WEIGHTS = ""  # the tiny test model (``tiny_weights``), set for every test below


@pytest.fixture(autouse=True)
def _tiny_model(tiny_weights, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "WEIGHTS", tiny_weights)


def _folder(path, sizes=(160, 128, 192, 144)):
    path.mkdir()
    for i, side in enumerate(sizes):
        tifffile.imwrite(path / f"img{i}.tif", synthetic_nuclei((side, side), seed=i)[0])
    return path


def _segment(*args) -> int:
    return main(["segment", *map(str, args), "--device", "cpu", "--weights", WEIGHTS])


def _file_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("napari-unet-nuclei-file")]


def _labels(folder) -> dict[str, np.ndarray]:
    return {p.name: tifffile.imread(p) for p in sorted(folder.iterdir())}


def test_the_pipeline_writes_the_labels_of_the_plain_loop(tmp_path, capsys):
    inputs = _folder(tmp_path / "in")
    assert _segment(inputs, "-o", tmp_path / "plain", "--parallel-files", "0") == 0
    assert _segment(inputs, "-o", tmp_path / "pipe", "--parallel-files", "2") == 0
    plain, pipe = _labels(tmp_path / "plain"), _labels(tmp_path / "pipe")
    assert list(pipe) == ["img0.tif", "img1.tif", "img2.tif", "img3.tif"] == list(plain)
    for name in plain:
        assert plain[name].max() > 5
        np.testing.assert_array_equal(pipe[name], plain[name])
    assert not _file_threads()  # the workers are gone


def test_a_failing_file_is_reported_and_the_rest_written(tmp_path, capsys):
    inputs = _folder(tmp_path / "in")
    (inputs / "img1.tif").write_bytes(b"not a tiff")  # fails when read
    tifffile.imwrite(inputs / "img2.tif", np.ones((64, 64), np.complex64))  # fails to segment
    assert _segment(inputs, "-o", tmp_path / "out", "--parallel-files", "2") == 1
    err = capsys.readouterr().err
    assert "[2/4] img1.tif: FAILED (" in err and "cannot read" in err
    assert "[3/4] img2.tif: FAILED (" in err and "complex64" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.tif", "img3.tif"]


def test_lines_come_in_input_order(tmp_path, capsys):
    inputs = _folder(tmp_path / "in", sizes=(512, 64, 64, 64, 64, 64))  # the first is slowest
    assert _segment(inputs, "-o", tmp_path / "out", "--parallel-files", "2") == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("[")]
    assert [x.split()[0] for x in lines] == [f"[{i}/6]" for i in range(1, 7)]
    assert [x.split()[1] for x in lines] == [f"img{i}.tif:" for i in range(6)]


def test_in_order_holds_early_outcomes():
    seen, made = [], []

    def make(index):
        made.append(index)
        return Outcome(index, Path("x.tif"), Path("out/x.tif"))

    order = InOrder(lambda done: seen.append(done.index))
    for index in (2, 0, 3, 1):
        order.add(index, lambda i=index: make(i))
    assert seen == [0, 1, 2, 3] == made  # each made (written) in order, just before its report


def test_an_outcome_held_behind_a_raising_report_is_never_made():
    made = []

    def report(done):
        if done.index == 0:
            raise KeyboardInterrupt

    order = InOrder(report)
    order.add(1, lambda: made.append(1))  # came early: held, its labels not yet written
    with pytest.raises(KeyboardInterrupt):
        order.add(0, lambda: Outcome(0, Path("x.tif"), Path("out/x.tif")))
    assert made == []


def test_ctrl_c_stops_the_workers_and_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    inputs = _folder(tmp_path / "in", sizes=(128,) * 6)
    real = _cli_segment.reporter

    def reporter(total, problems):
        report = real(total, problems)

        def interrupt_after_two(done):
            report(done)
            if done.index == 1:
                raise KeyboardInterrupt

        return interrupt_after_two

    monkeypatch.setattr(_cli_segment, "reporter", reporter)
    assert _segment(inputs, "-o", tmp_path / "out", "--parallel-files", "2") == 130
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["img0.tif", "img1.tif"]  # nothing written that was not reported
    assert "interrupted" in capsys.readouterr().err
    for thread in _file_threads():
        thread.join(30)  # a running image ends; nothing more is written
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == written


def test_run_pipeline_alone_reports_every_job(tmp_path):
    inputs = _folder(tmp_path / "in", sizes=(96, 96, 96))
    (tmp_path / "out").mkdir()
    jobs = [(inputs / f"img{i}.tif", tmp_path / "out" / f"img{i}.tif") for i in range(3)]
    seen: list[Outcome] = []
    run_pipeline(jobs, FileOptions(device="cpu", weights=WEIGHTS), seen.append, workers=1)
    assert [o.index for o in seen] == [0, 1, 2] and all(o.error is None for o in seen)
    assert all(o.nuclei > 0 and o.planes == 1 for o in seen)


def test_negative_parallel_files_are_refused(tmp_path, capsys):
    inputs = _folder(tmp_path / "in", sizes=(64,))
    assert _segment(inputs, "-o", tmp_path / "out", "--parallel-files", "-1") == 2
    assert "--parallel-files" in capsys.readouterr().err


def test_the_old_workers_option_still_works_with_a_warning(tmp_path, capsys):
    inputs = _folder(tmp_path / "in", sizes=(64, 64))
    assert _segment(inputs, "-o", tmp_path / "out", "--workers", "2") == 0
    captured = capsys.readouterr()
    assert "--workers is deprecated: use --parallel-files" in captured.err
    assert "[2/2]" in captured.out


def test_default_workers_follow_the_cores_on_every_device(monkeypatch):
    # on a GPU the CPU steps are the slow part: one image per core there too (was 2)
    from napari_unet_nuclei import _io
    from napari_unet_nuclei.batch import folder as _folder

    jobs = [(Path(f"in{i}.tif"), Path(f"out{i}.tif")) for i in range(20)]
    monkeypatch.setattr(_io, "memory_limit", lambda: 64 << 30)
    monkeypatch.setattr(_folder, "cores", lambda: 6)
    assert _folder.default_workers(jobs) == 6
    assert _folder.default_workers(jobs[:3]) == 3  # no worker without a file
    assert _folder.default_workers(jobs[:1]) == 0  # one file: the plain loop
    monkeypatch.setattr(_folder, "cores", lambda: 32)
    assert _folder.default_workers(jobs) == _folder.MAX_WORKERS
    monkeypatch.setattr(_io, "memory_limit", lambda: 3 * _folder.WORKER_BYTES)
    assert _folder.default_workers(jobs) == 3  # one image in flight per GB of memory
