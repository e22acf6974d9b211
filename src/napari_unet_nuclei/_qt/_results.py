"""Showing what a run gave (nuclei layer, status line) and re-labelling from the cached maps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from napari.layers import Image
from napari.utils.notifications import show_error

from .._device import device_name
from ._big import big_summary
from ._fit import StatusLine
from ._layers import find_result, remove_placeholder, show_labels, show_plane_labels
from ._planes import plane_text
from ._run import (
    Labelled,
    Outcome,
    Session,
    failure_status,
    friendly_message,
    prediction_status,
)
from ._stack_mode import stack_summary
from ._tracks import TRACK_PARENTS, drop_tracks, show_tracks, tracked_summary

if TYPE_CHECKING:
    import napari


class ResultView:
    """Puts a run's outcome in the viewer, or says on the status line why there is none.

    ``settings()`` gives (threshold, split, min_size) for re-labelling; ``device()`` the
    device named in the whole-stack and block summaries.
    """

    def __init__(
        self,
        viewer: napari.viewer.Viewer,
        session: Session,
        status: StatusLine,
        settings: Callable[[], tuple[float, bool, int]],
        device: Callable[[], str],
    ) -> None:
        self._viewer, self._session, self._status = viewer, session, status
        self._settings, self._device = settings, device

    def done(
        self, outcome: Outcome, generation: int, source: Image, plane: tuple[int, ...]
    ) -> None:
        """Show what a run returned; remove the empty layer it added when there is nothing."""
        self._session.worker = None
        placeholder, self._session.placeholder = self._session.placeholder, None
        if not self._show_outcome(outcome, generation, source, plane):
            remove_placeholder(self._viewer, placeholder)

    def _show_outcome(
        self, outcome: Outcome, generation: int, source: Image, plane: tuple[int, ...]
    ) -> bool:
        """Show what a run gave (False when nothing: cancelled, failed, stale, gone)."""
        if self._session.closed or self._failed(outcome, generation):
            return False
        if source not in self._viewer.layers:
            self._status.value = f"'{source.name}' was removed during the run; nothing was added."
            return False
        if outcome.labels is not None:
            self._show_whole(source, outcome)
            return True
        self._session.prediction, self._session.source = outcome.prediction, source
        self._session.plane = plane
        self.relabel(outcome.labelled)
        return True

    def _failed(self, outcome: Outcome, generation: int) -> bool:
        """Say why a run gave nothing to show (cancel, error, stale); False when it did."""
        status = failure_status(outcome, generation != self._session.generation)
        if status is not None:
            self._status.value = status
        if outcome.error is not None:
            show_error(friendly_message(outcome.error))
        return status is not None

    def _show_whole(self, source: Image, outcome: Outcome) -> None:
        """Replace the Labels layer with whole-stack or block labels; no cache remains."""
        show_labels(self._viewer, source, outcome.labels, {})
        self._session.drop()
        device = device_name(self._device())  # what "auto" chose
        self._mark_tracks(source, outcome.tracked)
        if outcome.tracked is not None:
            self._status.value = tracked_summary(outcome.tracked, outcome.seconds, device)
            return
        self._status.value = (
            stack_summary(outcome.labels, outcome.seconds, device)
            if outcome.count is None
            else big_summary(outcome.count, outcome.seconds, device)
        )

    def _mark_tracks(self, source: Image, tracked: object | None) -> None:
        """Show the tracks of tracked labels (lineage kept for the CSV), or drop stale ones."""
        layer = find_result(self._viewer, source)
        if layer is not None:
            layer.metadata.pop(TRACK_PARENTS, None)
            if tracked is not None:
                layer.metadata[TRACK_PARENTS] = dict(tracked.parents)
        if tracked is None:
            drop_tracks(self._viewer, source)
        else:
            show_tracks(self._viewer, source, tracked)

    def relabel(self, labelled: Labelled | None = None) -> None:
        """Re-label from the cached probabilities at the current settings; no network call.

        ``labelled``: labels the worker already made, used when made at these settings.
        """
        prediction, source, plane = (
            self._session.prediction,
            self._session.source,
            self._session.plane,
        )
        if prediction is None or source is None:
            return
        t0 = time.perf_counter()
        settings = self._settings()
        if labelled is None or labelled.settings != settings:
            labelled = Labelled(settings, prediction.labels(*settings), None)
        count = show_plane_labels(self._viewer, source, plane, labelled.labels, labelled.table)
        self._mark_tracks(source, None)  # a plane re-segmented: its ids are no longer tracks
        ms = 1000 * (time.perf_counter() - t0)
        self._status.value = prediction_status(prediction, count, plane_text(plane), ms)
