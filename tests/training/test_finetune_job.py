"""Fine-tuning in a child process: progress, a result, errors and Cancel reach the parent."""

import time

import numpy as np
import pytest

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.training.finetune_job import FinetuneJob


def _wait(job, until, timeout=240):
    seen, t0 = [], time.monotonic()
    while time.monotonic() - t0 < timeout:
        seen += job.events()
        if until(seen) or not job.running:
            return seen + job.events()
        time.sleep(0.05)
    raise AssertionError(f"no end in {timeout} s: {seen[-3:]}")


@pytest.mark.slow  # a child process (or several): seconds each
def test_job_reports_progress_and_a_result(tmp_path, tiny_weights):
    image, labels = synthetic_nuclei((96, 96), seed=0)
    job = FinetuneJob(
        [image], [labels], tiny_weights, steps=2, device="cpu", output=tmp_path / "m.pt"
    )
    events = _wait(job, lambda ev: any(e["event"] in ("done", "error") for e in ev))
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["progress", "progress"] and kinds[-1] == "done", events
    assert events[0]["steps"] == 2 and np.isfinite(events[0]["loss"])
    assert events[0]["seconds_left"] >= events[1]["seconds_left"] >= 0
    done, out = events[-1], tmp_path / "m.pt"
    assert done["images"] == 1 and done["nuclei"] == int(labels.max())
    assert done["worse"] == (done["score"] < done["base_score"])
    if done["worse"]:  # waits in the scratch folder for the user's answer
        assert done["path"] is None and not out.exists() and job.candidate.is_file()
        assert job.keep_candidate(out) == out and out.exists() and job.candidate is None
    else:  # written where asked, nothing waits
        assert done["path"] == str(out) and out.exists() and job.candidate is None
        with pytest.raises(FileNotFoundError):
            job.keep_candidate(tmp_path / "other.pt")


@pytest.mark.slow  # a child process (or several): seconds each
def test_bad_labels_come_back_as_an_error(tiny_weights):
    image, _ = synthetic_nuclei((64, 64), seed=0)
    labels = np.zeros((10, 10), np.uint16)
    job = FinetuneJob([image], [labels], tiny_weights, steps=2, device="cpu")
    events = _wait(job, lambda ev: any(e["event"] == "error" for e in ev))
    assert events[-1]["event"] == "error" and "do not fit" in events[-1]["message"]


@pytest.mark.slow  # a child process (or several): seconds each
def test_cancel_stops_the_child_and_writes_nothing(tmp_path, tiny_weights):
    image, labels = synthetic_nuclei((128, 128), seed=1)
    out = tmp_path / "m.pt"
    job = FinetuneJob([image], [labels], tiny_weights, steps=100000, device="cpu", output=out)
    _wait(job, lambda ev: any(e["event"] == "progress" for e in ev))
    t0 = time.monotonic()
    job.cancel()
    assert not job.running and time.monotonic() - t0 < 15
    assert [e for e in job.events() if e["event"] == "done"] == []
    assert not (tmp_path / "m.pt").exists()
