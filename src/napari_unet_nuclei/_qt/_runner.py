"""Segment / Cancel and the progress bar: start a run's worker, count its progress, stop it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from magicgui.widgets import ProgressBar, PushButton
from napari.qt.threading import FunctionWorker

from ._fit import StatusLine
from ._run import (
    Done,
    Labeller,
    Outcome,
    ProgressRelay,
    Session,
    stack_outcome,
    start_run,
    start_stack_run,
)

Shown = Callable[[Outcome, int, object, tuple[int, ...]], None]


class Runner:
    """Starts the network in a worker and shows it running: the buttons and the progress bar.

    ``on_done(outcome, generation, source, plane)`` gets what a run returned (main thread).
    """

    def __init__(self, session: Session, status: StatusLine, on_done: Shown) -> None:
        self._session, self._status, self._on_done = session, status, on_done
        self.segment = PushButton(text="Segment nuclei")
        self.cancel = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="Tiles", min=0, max=1, value=0)
        self.relay = ProgressRelay()
        self.relay.advanced.connect(self._on_progress)

    def begin(self, status: str, unit: str = "Tiles") -> None:
        """Show a run starting: Segment off, Cancel on, ``status``, the bar counting ``unit``."""
        self._set_running(True)
        self._status.value = status
        self.progress.label = unit  # what the bar counts: tiles, planes or blocks

    def start_plane(
        self,
        image: np.ndarray,
        options: dict,
        source: object,
        plane: tuple[int, ...],
        label: Labeller,
    ) -> FunctionWorker:
        """Predict one plane of ``source`` (() for a 2D image); ``label`` runs in the worker."""
        done = self._done(plane)
        return start_run(
            image, options, self._session, self.relay, done, source, self.finished, label
        )

    def start_whole(
        self,
        source: object,
        plan: tuple[object, dict, str],
        unit: str,
        job: Callable[..., Outcome] = stack_outcome,
    ) -> FunctionWorker:
        """Begin, then run ``job`` on every plane or block; ``plan``: (pixels, options, status)."""
        pixels, options, status = plan
        self.begin(status, unit)
        return start_stack_run(
            pixels,
            options,
            self._session,
            self.relay,
            self._done(()),
            source,
            self.finished,
            job=job,
        )

    def _done(self, plane: tuple[int, ...]) -> Done:
        """The worker's ``on_done``: ``on_done`` told which plane the run was of."""
        return lambda outcome, generation, source: self._on_done(outcome, generation, source, plane)

    def stop(self) -> None:
        """Stop the running segmentation; the previous result stays as it was."""
        if self._session.running:
            self._session.cancel.set()
            self._status.value = "Cancelling…"

    def finished(self) -> None:
        """The worker has ended (after ``on_done``): Segment nuclei can be pressed again."""
        self._session.worker = None
        if self._session.closed:
            return
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.segment.enabled = not running
        self.cancel.enabled = running
        if running:
            self.progress.value = 0

    def _on_progress(self, done: int, total: int) -> None:
        if self._session.closed:
            return
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
