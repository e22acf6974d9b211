"""Segment / Cancel and the progress bar (``_qt/_runner.py``).

Cancel at any point: mid-pass, while the size is estimated, inside a plane, between planes.
Each time the worker stops at its next progress report (counted, not timed), the cancelled
run adds or changes no Labels layer, the status line says so, and the next run works. A
run that ends at once releases the button too.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from napari.layers import Labels

from napari_unet_nuclei import _engine, _widget
from napari_unet_nuclei._sample_data import synthetic_sample

from ._helpers import RUN_TIMEOUT_MS, n_labels, only_labels, run_and_wait, slow_network

STEPS = 2000  # a slow pass: STEPS batches of 10 ms (20 s) unless the progress callback raises


STEPS_AFTER_CANCEL = 2  # the step under way when Cancel is pressed, and one report more


class SlowPasses:
    """``_engine.predict_maps`` as batches that report progress, slow for the passes in ``slow``
    (call numbers from 1, or kinds).

    Each call is recorded as ``"estimate"`` (inside ``auto_scale``) or ``"main"``.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, slow: set[int]) -> None:
        self.real, self.calls, self.slow, self.steps = _engine.predict_maps, [], slow, 0
        self.started, self._estimating = threading.Event(), False
        real_auto = _engine.auto_scale

        def auto_scale(*args, **kwargs):
            self._estimating = True
            try:
                return real_auto(*args, **kwargs)
            finally:
                self._estimating = False

        monkeypatch.setattr(_engine, "auto_scale", auto_scale)
        monkeypatch.setattr(_engine, "predict_maps", self)

    def __call__(self, *args, progress=None, **kwargs) -> np.ndarray:
        self.calls.append("estimate" if self._estimating else "main")
        slow = len(self.calls) in self.slow or self.calls[-1] in self.slow  # a number or a kind
        for done in range(1, STEPS + 1) if slow else ():
            time.sleep(0.01)
            self.steps += 1
            self.started.set()
            if progress is not None:
                progress(done, STEPS)
        return self.real(*args, progress=progress, **kwargs)


@pytest.fixture
def image_widget(make_napari_viewer, new_widget):
    """``image_widget()``: (viewer, widget) on a 128² synthetic sample."""

    def make():
        viewer = make_napari_viewer()
        viewer.add_image(synthetic_sample((128, 128))[0], name="cells")
        return viewer, new_widget(viewer)

    return make


def _labels(viewer) -> list[Labels]:
    return [lay for lay in viewer.layers if isinstance(lay, Labels)]


def _cancel_promptly(qtbot, widget, passes: SlowPasses) -> None:
    """Press Cancel; the slow pass must stop at its next progress report, the status say so.

    Counted in the pass's steps: a pass that ignored Cancel would run its STEPS to the end.
    """
    widget._cancel.native.click()
    at_cancel = passes.steps
    qtbot.waitUntil(
        lambda: not widget._session.running and widget._segment.enabled, timeout=RUN_TIMEOUT_MS
    )
    assert passes.steps - at_cancel <= STEPS_AFTER_CANCEL
    assert widget._status.value == "Cancelled; the previous result is unchanged."


def _next_run_works(qtbot, viewer, widget, passes: SlowPasses) -> None:
    passes.slow = set()
    run_and_wait(qtbot, widget)
    assert n_labels(only_labels(viewer)) > 0
    assert " nuclei" in widget._status.value and "Cancelled" not in widget._status.value


@pytest.mark.parametrize(
    ("whole_stack", "slow_pass", "kinds"),
    [
        (False, 1, ["estimate"]),  # 2D image, the size-estimating pass
        (True, 1, ["estimate"]),  # whole stack, the middle plane's size estimate
        (True, "main", ["estimate", "main"]),  # whole stack, inside the first plane's pass
    ],
    ids=["2d-estimating", "stack-estimating", "stack-inside-a-plane"],
)
def test_cancel_stops_every_network_pass(
    qtbot, stack_widget, image_widget, monkeypatch, whole_stack, slow_pass, kinds
):
    viewer, widget = stack_widget() if whole_stack else image_widget()
    widget._stack_mode.value = _widget.WHOLE_STACK
    assert widget.whole_stack(widget._image.value) == whole_stack
    assert widget.diameter == "auto"  # the spin box at 0: a size-estimating pass comes first
    passes = SlowPasses(monkeypatch, slow={slow_pass})
    widget._segment.native.click()
    qtbot.waitUntil(passes.started.is_set, timeout=60_000)
    _cancel_promptly(qtbot, widget, passes)
    if slow_pass == "main":  # the size estimate may take several passes before it
        kinds = ["estimate"] * passes.calls.count("estimate") + kinds[1:]
    assert passes.calls == kinds  # no further pass: no other scale, no main pass, no plane
    assert not _labels(viewer)
    _next_run_works(qtbot, viewer, widget, passes)


def test_cancel_between_planes_starts_no_further_plane(qtbot, stack_widget, monkeypatch):
    viewer, widget = stack_widget()
    widget._stack_mode.value = _widget.WHOLE_STACK
    widget._diameter.value = 16  # no estimating pass: one prediction per plane
    run_and_wait(qtbot, widget)
    before = np.asarray(only_labels(viewer).data).copy()
    predicted, plane_done, go_on = [], threading.Event(), threading.Event()
    real = _engine.NucleusModel._predict

    def predict(*args, **kwargs):
        predicted.append(1)
        out = real(*args, **kwargs)
        if len(predicted) == 2:  # the middle plane and the first plane are done
            plane_done.set()
            go_on.wait(10)  # the worker waits here, between planes, for the click
        return out

    monkeypatch.setattr(_engine.NucleusModel, "_predict", predict)
    widget._segment.native.click()
    qtbot.waitUntil(plane_done.is_set, timeout=60_000)
    widget._cancel.native.click()
    go_on.set()
    qtbot.waitUntil(lambda: not widget._session.running, timeout=RUN_TIMEOUT_MS)
    assert len(predicted) == 2  # the third plane never started
    assert "Cancelled" in widget._status.value
    assert np.array_equal(np.asarray(only_labels(viewer).data), before)
    monkeypatch.setattr(_engine.NucleusModel, "_predict", real)
    run_and_wait(qtbot, widget)
    assert "3 planes" in widget._status.value


def test_cancel_keeps_the_previous_result(qtbot, docked, monkeypatch):
    run_and_wait(qtbot, docked)
    before = np.asarray(only_labels(docked._viewer).data).copy()
    passes = SlowPasses(monkeypatch, slow={1})
    docked._segment.native.click()
    docked.run()  # a second click while running does not start a second run
    qtbot.waitUntil(lambda: docked._progress.value > 0, timeout=10_000)
    _cancel_promptly(qtbot, docked, passes)
    assert len(passes.calls) == 1
    assert np.array_equal(np.asarray(only_labels(docked._viewer).data), before)
    assert docked._session.prediction is not None  # the slider still works on the old result


@pytest.mark.slow  # seconds: a network slowed on purpose to meet the race
def test_whole_stack_cancel_keeps_the_previous_result(qtbot, stack_widget, monkeypatch):
    viewer, widget = stack_widget()
    widget._stack_mode.value = _widget.WHOLE_STACK
    run_and_wait(qtbot, widget)
    before = np.asarray(only_labels(viewer).data).copy()
    slow_network(monkeypatch)
    widget._segment.native.click()
    qtbot.waitUntil(lambda: widget._progress.value > 0, timeout=60_000)
    widget._cancel.native.click()
    qtbot.waitUntil(lambda: not widget._session.running, timeout=60_000)
    assert "Cancelled" in widget._status.value
    assert np.array_equal(np.asarray(only_labels(viewer).data), before)


SHAPE = (128, 96)


def test_instant_runs_always_release_the_button(qtbot, make_napari_viewer, new_widget):
    """A constant image ends at once (no network): the end must never be missed."""
    viewer = make_napari_viewer()
    viewer.add_image(np.full(SHAPE, 3, np.uint8), name="flat")
    widget = new_widget(viewer)
    for _ in range(20):
        run_and_wait(qtbot, widget)
        assert widget._segment.enabled and not widget._cancel.enabled
