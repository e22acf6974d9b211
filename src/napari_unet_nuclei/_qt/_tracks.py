"""Follow nuclei over time: the checkbox, the tracking step in the worker, the Tracks layer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox
from napari.layers import Image, Tracks

from .._stack import Tracked, track_nuclei
from ._run import Outcome, stack_outcome
from ._stack_mode import WHOLE_STACK

if TYPE_CHECKING:
    import napari

Plan = tuple[object, dict, str]  # (pixels, ``NucleusModel.segment`` options, status line)
TRACK_PARENTS = "track_parents"  # Labels layer metadata: {daughter: mother} of tracked ids
TIP = (
    "For a time-lapse (a 2D image over time): the same nucleus keeps its id from frame to "
    "frame, through moves, divisions and a missed frame (laptrack), and a Tracks layer "
    "shows the paths. Segments every frame. Also applies to the time-lapse files of "
    "Segment a folder…"
)


class TrackControls:
    """The "Follow nuclei over time" checkbox and what it changes in a whole-stack run."""

    def __init__(self, stack_mode: ComboBox | None = None) -> None:
        self.follow = CheckBox(text="Follow nuclei over time", value=False, tooltip=TIP)
        if stack_mode is not None:  # every frame is segmented: say so in the Stack choice
            self.follow.changed.connect(lambda on: self._whole(stack_mode, on))

    @staticmethod
    def _whole(stack_mode: ComboBox, on: bool) -> None:
        if on and stack_mode.enabled:
            stack_mode.value = WHOLE_STACK

    def applies(self, layer: Image | None) -> bool:
        """True when tracking is asked for and ``layer`` is a 2D time-lapse (T, Y, X)."""
        return bool(self.follow.value) and layer is not None and layer.ndim == 3

    def run_args(self, layer: Image, plan: Plan) -> tuple[Plan, str, Callable[..., Outcome]]:
        """(plan, unit, job) of ``Runner.start_whole``: a tracked run when tracking applies."""
        if self.applies(layer):
            return self.plan(plan), "Frames", tracked_outcome
        return plan, "Planes", stack_outcome

    def plan(self, plan: Plan) -> Plan:
        """A whole-stack plan with its leading axis as time (no Z linking) and said so."""
        pixels, options, status = plan
        axes = "TYX" + ("C" if options["axes"].endswith("C") else "")
        status = status.split(" (")[0] + f" ({axes}) and following nuclei over time…"
        return pixels, dict(options, axes=axes, link_z=False), status


def tracked_outcome(
    stack: object, options: dict, cancel: threading.Event, report: Callable[[int, int], None]
) -> Outcome:
    """In the worker: every frame segmented (``stack_outcome``), then ``track_nuclei``."""
    outcome = stack_outcome(stack, options, cancel, report)
    if outcome.labels is None or cancel.is_set():
        return outcome
    t0 = time.perf_counter()
    try:
        tracked = track_nuclei(outcome.labels)
    except Exception as exc:  # shown to the user by the widget, in words
        return Outcome(error=exc)
    if cancel.is_set():
        return Outcome()
    seconds = outcome.seconds + time.perf_counter() - t0
    return Outcome(labels=tracked.labels, seconds=seconds, tracked=tracked)


def tracks_name(source: Image) -> str:
    """The name of the Tracks layer of the nuclei of ``source``."""
    return f"{source.name} tracks"


def _find(viewer: napari.viewer.Viewer, source: Image) -> Tracks | None:
    found = [
        la for la in viewer.layers if isinstance(la, Tracks) and la.name == tracks_name(source)
    ]
    return found[0] if found else None


def show_tracks(viewer: napari.viewer.Viewer, source: Image, tracked: Tracked) -> None:
    """Put the tracks beside the labels: one path per track, daughters joined to mothers."""
    old = _find(viewer, source)
    if old is not None:
        viewer.layers.remove(old)  # a new graph and new ids: a fresh layer
    if not len(tracked.tracks):
        return
    graph = {daughter: [mother] for daughter, mother in tracked.parents.items()}
    viewer.add_tracks(
        tracked.tracks,
        graph=graph,
        name=tracks_name(source),
        scale=source.scale[:3],
        translate=source.translate[:3],
        tail_length=10,
    )


def drop_tracks(viewer: napari.viewer.Viewer, source: Image) -> None:
    """Remove the tracks of ``source`` (its labels were replaced by untracked ones)."""
    old = _find(viewer, source)
    if old is not None:
        viewer.layers.remove(old)


def tracked_summary(tracked: Tracked, seconds: float, device: str) -> str:
    """The status line after a tracked run: tracks, divisions, frames, times."""
    frames = tracked.labels.shape[0]
    divisions = len(set(tracked.parents.values()))
    return (
        f"{int(np.max(tracked.labels, initial=0))} nuclei followed over {frames} frames "
        f"({divisions} divisions) · {seconds:.1f} s on {device}, of which tracking "
        f"{tracked.seconds:.1f} s"
    )
