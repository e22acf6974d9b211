"""Run the network in a napari worker thread, with progress and cancellation.

The worker never touches a widget: progress goes through a Qt signal (queued to the
main thread) and the outcome, error or cancellation included, is *returned*, so the
widget decides what the user sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from napari.qt.threading import FunctionWorker, create_worker
from qtpy.QtCore import QObject, Signal

from .. import _engine
from .._normalize import looks_stained
from .._prediction import Prediction, Segmentation


class RunCancelled(Exception):
    """Raised from the progress callback when the user pressed Cancel."""


@dataclass(frozen=True)
class Outcome:
    """What a run produced: a prediction or stack labels, an error, or nothing (cancelled)."""

    prediction: Prediction | None = None
    error: Exception | None = None
    labels: np.ndarray | None = None  # whole-stack / block runs: labels, ids unique
    seconds: float = 0.0
    count: int | None = None  # block-by-block runs: the number of nuclei
    labelled: Labelled | None = None  # one-plane runs: the first labels, made in the worker
    tracked: object | None = None  # tracked time-lapses: the ``_stack.Tracked`` of the labels

    @property
    def cancelled(self) -> bool:
        """True when the run stopped because of Cancel."""
        return self.prediction is None and self.error is None and self.labels is None


@dataclass(frozen=True)
class Labelled:
    """A prediction's labels at ``settings`` (threshold, split, min_size) and their table.

    Made in the worker, so that the main thread only has to show them.
    """

    settings: tuple[float, bool, int]
    labels: np.ndarray
    table: dict | None  # None: not measured yet


Labeller = Callable[[Segmentation], Labelled]


class ProgressRelay(QObject):
    """Carries ``(tiles done, tiles total)`` from the worker thread to the main thread."""

    advanced = Signal(int, int)


def cancellable(
    cancel: threading.Event, report: Callable[[int, int], None]
) -> Callable[[int, int], None]:
    """A progress callback that reports, or raises ``RunCancelled`` once Cancel was pressed."""

    def progress(done: int, total: int) -> None:
        if cancel.is_set():
            raise RunCancelled
        report(done, total)

    return progress


def segment(image: object, options: dict, progress: Callable[[int, int], None], **layout):
    """``NucleusModel(weights, device).segment``: the engine picks the path, the widget asks.

    ``options``: ``weights``, ``device`` and the settings of ``Settings``; ``layout``: what
    ``segment`` takes besides (``axes``, ``channel``, ``link_z``, ``out``...).
    """
    settings = dict(options)
    model = _engine.NucleusModel(settings.pop("weights", None), settings.pop("device", "auto"))
    return model.segment(image, progress=progress, **layout, **settings)


def predict_outcome(
    image: np.ndarray,
    options: dict,
    cancel: threading.Event,
    report: Callable[[int, int], None],
    label: Labeller | None = None,
) -> Outcome:
    """Segment one 2D image; keep its prediction (for the sliders) and ``label`` its labels.

    ``label(segmentation)`` runs here, in the worker. Cancel and errors become an
    ``Outcome`` too.
    """
    try:
        segmentation = segment(image, options, cancellable(cancel, report))
        labelled = None if label is None or cancel.is_set() else label(segmentation)
    except RunCancelled:
        return Outcome()
    except Exception as exc:  # shown to the user by the widget, in words
        return Outcome(error=exc)
    if cancel.is_set():
        return Outcome()
    if segmentation.prediction is None:  # not in one piece (too big): labels only
        return Outcome(labels=segmentation.labels, count=int(segmentation.labels.max()))
    return Outcome(prediction=segmentation.prediction, labelled=labelled)


def stack_outcome(
    stack: object, options: dict, cancel: threading.Event, report: Callable[[int, int], None]
) -> Outcome:
    """Segment every plane of ``stack`` (``options`` hold its axes too); progress: planes."""
    t0 = time.perf_counter()
    layout = {k: options[k] for k in ("axes", "channel", "link_z") if k in options}
    settings = {k: v for k, v in options.items() if k not in layout}
    try:
        labels = segment(stack, settings, cancellable(cancel, report), **layout).labels
    except RunCancelled:
        return Outcome()
    except Exception as exc:  # shown to the user by the widget, in words
        return Outcome(error=exc)
    seconds = time.perf_counter() - t0
    return Outcome() if cancel.is_set() else Outcome(labels=labels, seconds=seconds)


@dataclass
class Session:
    """The widget's state: the cached prediction, what it belongs to, the running job."""

    prediction: Prediction | None = None
    source: object | None = None  # the image layer the prediction was made from
    plane: tuple[int, ...] = ()  # the stack plane it was made from; () for a 2D image
    generation: int = 0  # bumped whenever the cache is dropped
    worker: FunctionWorker | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    closed: bool = False  # the widget is gone: results are dropped, nothing is shown
    hinted: set = field(default_factory=set)  # ids of layers already given the model hint
    placeholder: object | None = None  # an empty Labels layer added for the running job

    @property
    def running(self) -> bool:
        """True while a network run is in flight."""
        return self.worker is not None

    def close(self) -> None:
        """Stop a running job and ignore what it returns (the widget was destroyed)."""
        self.closed = True
        self.cancel.set()

    def drop(self) -> None:
        """Forget the prediction; a run in flight will not be applied when it returns."""
        self.prediction, self.source, self.plane = None, None, ()
        self.generation += 1


Done = Callable[[Outcome, int, object], None]


def start_run(
    image: np.ndarray,
    options: dict,
    session: Session,
    relay: ProgressRelay,
    on_done: Done,
    source: object,
    on_finished: Callable[[], None],
    label: Labeller | None = None,
) -> FunctionWorker:
    """Start a worker for one prediction (``options``: device, weights, diameter).

    ``label(prediction)`` also runs in the worker. ``on_done(outcome, generation, source)``
    follows, then ``on_finished()``.
    """
    session.cancel = threading.Event()
    worker = create_worker(
        predict_outcome, image, options, session.cancel, relay.advanced.emit, label
    )
    return _launch(worker, session, on_done, source, on_finished)


def start_stack_run(
    stack: object,
    options: dict,
    session: Session,
    relay: ProgressRelay,
    on_done: Done,
    source: object,
    on_finished: Callable[[], None],
    job: Callable[..., Outcome] = stack_outcome,
) -> FunctionWorker:
    """Start a worker for a whole stack (or, with ``job``, a big image block by block).

    ``job(stack, options, cancel, report)`` runs in the worker; ``on_done(outcome,
    generation, source)`` and then ``on_finished()`` follow on the main thread.
    """
    session.cancel = threading.Event()
    worker = create_worker(job, stack, options, session.cancel, relay.advanced.emit)
    return _launch(worker, session, on_done, source, on_finished)


def _launch(
    worker: FunctionWorker,
    session: Session,
    on_done: Done,
    source: object,
    on_finished: Callable[[], None],
) -> FunctionWorker:
    """Wire the callbacks, record the worker on the session, then start it.

    Everything is connected before the start: a run that ends at once (a constant image)
    would otherwise signal before anyone listens, leaving the widget busy for ever.
    """
    generation = session.generation
    worker.returned.connect(lambda outcome: on_done(outcome, generation, source))
    worker.finished.connect(on_finished)
    session.worker = worker
    worker.start()
    return worker


def failure_status(outcome: Outcome, stale: bool) -> str | None:
    """The status line for a run with nothing to show (cancelled, failed, stale), else None."""
    if outcome.cancelled:
        return "Cancelled; the previous result is unchanged."
    if outcome.error is not None:
        return "Segmentation failed (see the notification)."
    if stale:
        return "The image changed during the run: press Segment nuclei again."
    return None


def prediction_status(prediction: Prediction, count: int, where: str, ms: float) -> str:
    """The status line after a (re-)label: nuclei ``where``, size, network and re-label time."""
    size = f" · diameter ≈ {prediction.diameter:.0f} px" if prediction.diameter else ""
    if prediction.info.get("channel") == "haematoxylin":
        size += " · haematoxylin channel"
    return (
        f"{count} nuclei{where}{size} · network {prediction.seconds:.1f} s on "
        f"{prediction.device} · re-label {ms:.0f} ms"
    )


def model_hint(session: Session, layer: object, image: np.ndarray, model: str) -> str | None:
    """Once per layer: suggest the stained-tissue model for an image that looks stained."""
    if model != "general" or id(layer) in session.hinted or not looks_stained(image):
        return None
    session.hinted.add(id(layer))
    return (
        f"'{getattr(layer, 'name', 'This image')}' looks like stained tissue: "
        "Model ▸ Stained tissue (H&E) is tuned for such images."
    )


def friendly_message(exc: BaseException) -> str:
    """Word an error so that a biologist can act on it."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return (
            "Segmentation ran out of memory. Choose CPU as the device, or crop the image "
            f"into smaller pieces. ({text})"
        )
    if isinstance(exc, (FileNotFoundError, OSError)):
        return f"Could not read a file the model needs: {text}"
    return f"Segmentation failed: {text}"
