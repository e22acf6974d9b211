"""The Fine-tune section: learn from the user's corrected labels in a separate process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox, Label, ProgressBar, PushButton, SpinBox
from napari.layers import Image, Labels
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QMessageBox

from ..training.finetune import DEFAULT_STEPS, default_output
from ..training.finetune_job import FinetuneJob
from ._fit import StatusLine
from ._planes import image_plane, plane_index

WHOLE, LABELLED_BOX = "Whole image", "Labelled area only"
REGION_TIP = (
    "Whole image: every unlabelled pixel is taught as background, so correct every "
    "nucleus first. Labelled area only: the box around the labels you drew (plus a "
    "margin); inside it, unlabelled pixels are still background."
)
MARGIN = 16  # px around the labelled area


class FinetuneControls:
    """Labels to learn from, region, steps, Fine-tune / Cancel, progress and status."""

    def __init__(
        self,
        viewer: object,
        image: Callable[[], Image | None],
        base: Callable[[], str],
        device: Callable[[], str],
        on_model: Callable[[str], object],
        settings: Callable[[], dict] | None = None,
    ) -> None:
        self._viewer, self._image, self._base, self._device = viewer, image, base, device
        self._on_model, self._settings = on_model, settings or dict
        self._job: FinetuneJob | None = None
        self._output: Path | None = None
        # asked (with the scores) whether to keep a model that scored below the base;
        # a test answers it instead of the dialog
        self.ask_keep_worse: Callable[[str], bool] = self._ask_keep_worse
        self.title = Label(value="Fine-tune on your corrections")
        self.labels = ComboBox(
            label="Corrected labels",
            choices=self._labels_choices,
            tooltip="A Labels layer of the image: the nuclei layer you "
            "corrected with the paint / erase / fill tools, or any.",
        )
        self.region = ComboBox(
            label="Learn from", choices=[WHOLE, LABELLED_BOX], value=WHOLE, tooltip=REGION_TIP
        )
        self.steps = SpinBox(label="Most steps", min=10, max=10_000, value=DEFAULT_STEPS)
        self.start = PushButton(text="Fine-tune model")
        self.cancel = PushButton(text="Cancel fine-tune", enabled=False)
        self.progress = ProgressBar(label="Steps", min=0, max=1, value=0)
        self.status = StatusLine("Correct a Labels layer of this image, then fine-tune.")
        self.widgets = [
            self.title,
            self.labels,
            self.region,
            self.steps,
            self.start,
            self.cancel,
            self.progress,
            self.status,
        ]
        self._timer = QTimer()
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.poll)
        self.start.clicked.connect(self.run)
        self.cancel.clicked.connect(self.stop)

    def _labels_choices(self, _widget: object = None) -> list[tuple[str, Labels]]:
        return [(la.name, la) for la in self._viewer.layers if isinstance(la, Labels)]

    @property
    def running(self) -> bool:
        """True while a fine-tuning process runs."""
        return self._job is not None

    def training_pair(self) -> tuple[np.ndarray, np.ndarray]:
        """(image, labels) of the plane on screen, cut to the region chosen."""
        layer, labels_layer = self._image(), self.labels.value
        if layer is None or labels_layer is None:
            raise ValueError("Choose an image and the Labels layer you corrected.")
        plane = plane_index(layer, self._viewer.dims.point) if layer.ndim > 2 else ()
        image = image_plane(layer, plane)
        labels = np.asarray(labels_layer.data)
        labels = labels[plane] if labels.ndim > 2 and plane else labels
        if labels.shape != image.shape[:2]:
            raise ValueError(
                f"'{labels_layer.name}' ({labels.shape}) does not match the "
                f"image's plane ({image.shape[:2]})."
            )
        if self.region.value == LABELLED_BOX:
            image, labels = labelled_box(image, labels)
        return image, labels

    def run(self) -> None:
        """Start fine-tuning the chosen model on the chosen labels, in a child process."""
        if self.running:
            return
        try:
            image, labels = self.training_pair()
        except ValueError as exc:
            show_warning(str(exc))
            return
        if not labels.any():
            show_warning("The chosen Labels layer has no nuclei to learn from.")
            return
        self._output = default_output(self._base())
        self._job = FinetuneJob(
            [image],
            [labels],
            self._base(),
            self.steps.value,
            self._device(),
            self._output,
            self._settings(),
        )
        self._set_running(True)
        self.progress.max, self.progress.value = self.steps.value, 0
        self.status.value = "Scoring the base model on the held-out band (the last quarter)…"
        self._timer.start()

    def poll(self) -> None:
        """Show the child's progress; on its end, offer and select the new model."""
        if self._job is None:
            return
        for event in self._job.events():
            if event["event"] == "progress":
                self.progress.max, self.progress.value = event["steps"], event["step"]
                self.status.value = progress_status(event)
            elif event["event"] == "done":
                self._timer.stop()
                self._finish(self._outcome(event))
                show_info(self.status.value)
            else:
                self._finish(f"Fine-tuning failed: {event['message']}")
                show_error(self.status.value)

    def _outcome(self, event: dict) -> str:
        """Select the new model (asking first when it scored below the base); the status."""
        job, text = self._job, finished_status(event)
        if not event.get("worse"):
            self._on_model(event["path"])
            return text
        if job is None or not self.ask_keep_worse(text):
            if job is not None:
                job.discard()
            return f"{text} Not kept: the model you had stays selected."
        try:
            path = job.keep_candidate(self._output or default_output(self._base()))
        except OSError as exc:
            return f"{text} Could not keep it: {exc}"
        self._on_model(str(path))
        return f"{text} Kept as you asked and selected."

    def question_box(self, text: str) -> QMessageBox:
        """The question asked before keeping a model that scored below the base (Yes / No)."""
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Keep the fine-tuned model?",
            f"{text}\n\nKeep it anyway?",
            buttons,
            self.start.native,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box

    def _ask_keep_worse(self, text: str) -> bool:
        return self.question_box(text).exec() == QMessageBox.StandardButton.Yes

    def stop(self) -> None:
        """Cancel the run; no model is written."""
        if self._job is not None:
            self._job.cancel()
            self._finish("Fine-tuning cancelled; no model was written.")

    def _finish(self, status: str) -> None:
        self._timer.stop()
        self._job = None
        self._set_running(False)
        self.status.value = status

    def _set_running(self, running: bool) -> None:
        self.start.enabled, self.cancel.enabled = not running, running


def progress_status(event: dict) -> str:
    """A progress line: the step, the most time left and the loss."""
    left = event.get("seconds_left")
    time_left = "" if left is None else f", at most {duration(left)} left"
    return f"Step {event['step']}/{event['steps']}{time_left} (loss {event['loss']:.3f})"


def duration(seconds: float) -> str:
    """``"45 s"`` or ``"2 min 5 s"``."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def finished_status(event: dict) -> str:
    """What a finished run says: both held-out scores, and what became of the model."""
    base, tuned = event["base_score"], event["score"]
    scores = (
        f"held-out AP@0.5: base model {base:.3f}, fine-tuned {tuned:.3f} "
        f"({tuned - base:+.3f}; {duration(event['seconds'])})"
    )
    if event.get("worse"):
        return f"The fine-tuned model scored below the base model ({scores})."
    return (
        f"Fine-tuned model saved and selected ({scores}). To switch back, choose the "
        "base model in Model."
    )


def labelled_box(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut image and labels to the box around the labels, plus MARGIN pixels."""
    ys, xs = np.nonzero(labels)
    if ys.size == 0:
        return image, labels
    y0, x0 = max(0, ys.min() - MARGIN), max(0, xs.min() - MARGIN)
    y1, x1 = ys.max() + MARGIN + 1, xs.max() + MARGIN + 1
    return image[y0:y1, x0:x1], labels[y0:y1, x0:x1]
