"""The "Segment nuclei" dock widget: gathers parameters, runs the API in a worker, shows results.

The network runs once per click; the threshold / split / minimum-size controls only
re-label the cached probability maps (debounced) and update the one ``"<image> nuclei"``
Labels layer in place. Stacks (2D+t, Z, RGB stacks) are segmented one plane at a time:
the plane on screen, or every plane (``NucleusModel.segment`` in both). 2D images too big for one
piece are segmented block by block into a disk-backed array (``_qt/_big.py``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, PushButton
from napari.layers import Image, Labels
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog

from ._device import available_devices, device_choices, device_name
from ._qt._big import big_plan, blocks_outcome, is_big
from ._qt._finetune import FinetuneControls
from ._qt._fit import ScrollFit, StatusLine, full_width_texts, narrow_combo
from ._qt._folder import FolderControls
from ._qt._label_controls import LabelControls
from ._qt._layers import find_result, label_and_measure, placeholder_result, result_name
from ._qt._models import ModelControls
from ._qt._planes import image_plane, plane_index, plane_text
from ._qt._results import ResultView
from ._qt._run import Labelled, Session, model_hint
from ._qt._runner import Runner
from ._qt._save import save_result
from ._qt._stack_mode import WHOLE_STACK, StackControls
from ._qt._tracks import TrackControls

if TYPE_CHECKING:
    from pathlib import Path

    import napari
    from napari.qt.threading import FunctionWorker

__all__ = ["WHOLE_STACK", "NucleiWidget"]
DEBOUNCE_MS = 150


class NucleiWidget(Container):
    """Dock widget: image chooser, Segment / Cancel, live threshold & split, device, saving."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(scrollable=True)
        self._viewer = viewer
        self._session = Session()
        self._watched: Image | None = None
        # engine settings without a control (e.g. block_size, big_image_pixels, tta), by name
        self.engine_options: dict = {}
        self._build_controls()
        full_width_texts(self)
        ScrollFit(self.native)
        self._timer = QTimer(self.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.relabel)
        self._connect_events()
        self._on_image_changed(self._image.value)
        session, finetune = self._session, self._finetune
        self.native.destroyed.connect(lambda *_: (session.close(), finetune.stop()))

    @property
    def native(self):
        """The scroll area around the controls: napari docks ``native``.

        A window shorter than the controls scrolls them instead of squeezing the status
        lines until their wrapped text is cut.
        """
        return self.root_native_widget

    # --- construction -------------------------------------------------------------------
    def _build_controls(self) -> None:
        self._image = ComboBox(label="Image", choices=self._image_choices)
        self._stacks = StackControls(lambda: self._image.value)
        self._stack_mode, self._link_z = self._stacks.mode, self._stacks.link_z
        self._labelling = LabelControls()
        self._threshold, self._split, self._min_size, self._diameter = self._labelling.widgets
        self._device = ComboBox(label="Device", choices=device_choices(available_devices()))
        self._models = ModelControls()
        self._model = self._models.choice
        self._status = StatusLine("Choose an image and press Segment nuclei.")
        self._results = ResultView(
            self._viewer,
            self._session,
            self._status,
            self._labelling.settings,
            lambda: self._device.value,
        )
        self._runs = Runner(self._session, self._status, self._results.done)
        self._segment, self._cancel = self._runs.segment, self._runs.cancel
        self._progress, self._relay = self._runs.progress, self._runs.relay
        self._save = PushButton(text="Save labels…")
        self._build_workflow()
        self.extend(
            [
                self._image,
                self._stack_mode,
                self._link_z,
                self._tracks.follow,
                self._segment,
                self._cancel,
                *self._labelling.widgets,
                self._model,
                self._models.remove,
                self._models.export,
                self._device,
                self._progress,
                self._status,
                self._save,
                *self._folder.widgets,
            ]
        )
        self._finetune = FinetuneControls(
            self._viewer,
            lambda: self._image.value,
            lambda: self._model.value,
            lambda: self._device.value,
            self._models.add,
            self._scoring_settings,
        )
        self.extend(self._finetune.widgets)
        for combo in (
            self._image,
            self._stack_mode,
            self._model,
            self._device,
            self._finetune.labels,
            self._finetune.region,
        ):
            narrow_combo(combo)

    def _build_workflow(self) -> None:
        """Follow nuclei over time, and Segment a folder… with the settings on screen."""
        self._tracks = TrackControls(self._stack_mode)
        self._folder = FolderControls(self._settings, self._tracks.follow, self.native)

    def _connect_events(self) -> None:
        layers = self._viewer.layers
        for event in (layers.events.inserted, layers.events.removed, layers.events.moved):
            event.connect(self._image.reset_choices)
            event.connect(self._finetune.labels.reset_choices)
        layers.selection.events.active.connect(self._on_active_layer)
        self._image.changed.connect(self._on_image_changed)
        for control, what in ((self._device, "Device"), (self._model, "Model"),
                              (self._diameter, "Diameter")):  # fmt: skip
            control.changed.connect(lambda *_, what=what: self._drop_cache(what=what))
        for control in (self._threshold, self._split, self._min_size):
            control.changed.connect(self._schedule_relabel)
        self._segment.clicked.connect(self.run)
        self._cancel.clicked.connect(self.cancel)
        self._save.clicked.connect(self.save_dialog)

    def _image_choices(self, _widget: object = None) -> list[tuple[str, Image]]:
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    # --- cache invalidation ---------------------------------------------------------------
    def _on_active_layer(self, event: object = None) -> None:
        active = self._viewer.layers.selection.active
        if isinstance(active, Image) and active != self._image.value:
            self._image.reset_choices()
            self._image.value = active

    def _on_image_changed(self, layer: Image | None) -> None:
        if self._watched is not None:
            self._watched.events.data.disconnect(self._drop_cache)
        self._watched = layer
        if layer is not None:
            layer.events.data.connect(self._drop_cache)
        self._drop_cache()
        self._stacks.update(layer)

    def whole_stack(self, layer: Image | None) -> bool:
        """True when ``layer`` is a stack and all of its planes are to be segmented."""
        return self._stacks.whole_stack(layer) or self._tracks.applies(layer)

    def _drop_cache(self, *_args: object, what: str = "Image") -> None:
        """Forget the prediction of the image on screen: ``what`` changed (status line)."""
        if self._session.prediction is not None or self._session.running:
            self._status.value = f"{what} changed: press Segment nuclei again."
        self._session.drop()

    # --- running the network ---------------------------------------------------------------
    def run(self) -> None:
        """Start a segmentation of the chosen image (ignored while one is running)."""
        layer = self._image.value
        if self._session.running:
            return
        if layer is None:
            show_info("Open an image first (or File > Open Sample > napari-unet-nuclei).")
            return
        start = (
            self._start_stack
            if self.whole_stack(layer)
            else self._start_big
            if is_big(layer, self.engine_options)
            else self._start_plane
        )
        try:
            start(layer)
        except ValueError as exc:
            show_warning(str(exc))

    def _start_plane(self, layer: Image) -> FunctionWorker:
        """Predict the 2D image, or the stack plane on screen; cached for the slider."""
        plane = plane_index(layer, self._viewer.dims.point) if layer.ndim > 2 else ()
        image = image_plane(layer, plane)
        hint = model_hint(self._session, layer, image, self._model.value)
        if hint:
            show_info(hint)
        device = device_name(self._device.value)
        self._runs.begin(f"Segmenting '{layer.name}'{plane_text(plane)} on {device}…")
        settings = self._labelling.settings()
        options = dict(
            device=self._device.value,
            weights=self._model.value,
            diameter=self.diameter,
            **dict(zip(("threshold", "split", "min_size"), settings, strict=True)),
            **self.engine_options,
        )
        label = functools.partial(
            label_and_measure,
            settings=settings,
            image=image,
            scale=layer.scale[-2:],
            translate=layer.translate[-2:],
        )
        placeholder = placeholder_result(self._viewer, layer)  # before the worker competes
        worker = self._runs.start_plane(image, options, layer, plane, label)
        self._session.placeholder = placeholder
        return worker

    def _start_stack(self, layer: Image) -> FunctionWorker:
        """Segment every plane (``NucleusModel.segment``, then track); progress counts planes."""
        plan = self._stacks.plan(layer, self._settings())
        return self._runs.start_whole(layer, *self._tracks.run_args(layer, plan))

    def _start_big(self, layer: Image) -> FunctionWorker:
        """Segment a big 2D image block by block; progress counts blocks."""
        plan = big_plan(layer, self._settings())
        return self._runs.start_whole(layer, plan, "Blocks", blocks_outcome)

    def _settings(self) -> dict:
        """The ``segment`` settings from the controls (Stack mode adds the axes)."""
        return dict(
            threshold=self._threshold.value,
            split=self._split.value,
            min_size=self._min_size.value,
            diameter=self.diameter,
            device=self._device.value,
            weights=self._model.value,
            **self.engine_options,
        )

    def _scoring_settings(self) -> dict:
        """The settings a fine-tuned model is scored with: the label controls', as users run."""
        threshold, split, min_size = self._labelling.settings()
        return dict(threshold=threshold, split=split, min_size=min_size, diameter=self.diameter)

    @property
    def diameter(self) -> float | str:
        """The nucleus diameter asked for: pixels, or ``"auto"`` (the spin box at 0)."""
        return self._labelling.chosen_diameter()

    def cancel(self) -> None:
        """Stop the running segmentation; the previous result stays as it was."""
        self._runs.stop()

    # --- re-labelling ------------------------------------------------------------------------
    def _schedule_relabel(self, *_args: object) -> None:
        layer = self._image.value
        if self.whole_stack(layer) or is_big(layer, self.engine_options):
            what = "the whole stack" if self.whole_stack(layer) else "the big image"
            self._status.value = f"Press Segment nuclei to apply to {what}."
            return
        self._timer.start()  # restarts: re-label once the control has been still for a moment

    def relabel(self, labelled: Labelled | None = None) -> None:
        """Re-label from the cached probabilities at the current settings; no network call.

        ``labelled``: labels the worker already made, used when made at these settings.
        """
        self._results.relabel(labelled)

    def result_layer(self, source: Image | None = None) -> Labels | None:
        """Return the existing ``"<image> nuclei"`` Labels layer, if there is one."""
        source = source or self._image.value
        return None if source is None else find_result(self._viewer, source)

    # --- saving ----------------------------------------------------------------------------------
    def save_dialog(self) -> None:
        """Ask for a file name; save the labels (TIFF or PNG) and a measurements CSV beside."""
        source, labels = self._image.value, self.result_layer()
        if source is None or labels is None:
            show_info("Segment an image first: there are no nucleus labels to save yet.")
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native,
            "Save nucleus labels",
            f"{result_name(source)}.tif",
            "TIFF (*.tif *.tiff);;PNG (*.png)",
        )
        if path:
            self.save_to(path, source, labels)

    def save_to(self, path: str, source: Image, labels: Labels) -> list[Path]:
        """Save ``labels`` (+ CSV) to ``path``; an added extension never overwrites a file."""
        try:
            saved = save_result(path, source, labels)
        except (OSError, ValueError) as exc:
            show_error(f"Could not save the labels: {exc}")
            return []
        self._status.value = "Saved " + " and ".join(p.name for p in saved)
        return saved
