"""The Model choice: bundled models, the user's saved models, "Load model file…", removal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from magicgui.widgets import ComboBox, PushButton
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QMessageBox

from .._model import MODEL_CHOICES, load_model, user_models, user_models_dir

LOAD_FILE = "__load_model_file__"


class ModelControls:
    """The Model combo box and its Remove button; ``value`` is a bundled name or a file."""

    def __init__(self) -> None:
        self._loaded: list[tuple[str, str]] = []
        self._previous = "general"
        self.choice = ComboBox(
            label="Model",
            choices=self._choices,
            value="general",
            tooltip="General: fluorescence and most images; Stained tissue: "
            "H&E stains; (yours): models you fine-tuned or loaded.",
        )
        self.remove = PushButton(text="Remove this model…", visible=False)
        self.export = PushButton(
            text="Export for bioimage.io…",
            tooltip="Write the chosen model as a BioImage Model Zoo "
            "package (.zip) for other bioimage.io tools.",
        )
        self.exporting: subprocess.Popen | None = None
        self._timer = QTimer()
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._poll_export)
        self.choice.changed.connect(self._on_changed)
        self.remove.clicked.connect(lambda: self.remove_model(self.choice.value))
        self.export.clicked.connect(self.export_dialog)

    @property
    def value(self) -> str:
        """The chosen model: a bundled model's name or a weights file."""
        return self.choice.value

    def _choices(self, _widget: object = None) -> list[tuple[str, str]]:
        saved = user_models()
        known = {path for _, path in saved}
        loaded = [c for c in self._loaded if c[1] not in known]
        return [*MODEL_CHOICES, *saved, *loaded, ("Load model file…", LOAD_FILE)]

    def _on_changed(self, value: str) -> None:
        if value == LOAD_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self.choice.native,
                "Load a model",
                str(user_models_dir()),
                "napari-unet-nuclei weights (*.pt)",
            )
            if not path or not self.add(path):
                self.choice.value = self._previous
            return
        self._previous = value
        self.remove.visible = is_user_model(value)

    def add(self, path: str | Path, select: bool = True) -> bool:
        """Offer a weights file in the choice (checked first); select it. False if unusable."""
        path = str(Path(path))
        try:
            load_model(path)
        except (OSError, ValueError) as exc:
            show_error(f"Cannot use {path} as a model: {exc}")
            return False
        if all(path != p for _, p in self._choices()):
            self._loaded.append((f"{Path(path).stem} (file)", path))
        self.choice.reset_choices()
        if select:
            self.choice.value = path
        return True

    def remove_model(self, path: str, confirm: bool = True) -> bool:
        """Delete a model from the user's models folder (never a bundled or outside file)."""
        if not is_user_model(path):
            return False
        if (
            confirm
            and QMessageBox.question(
                self.choice.native, "Remove model", f"Delete the model file {path}?"
            )
            != QMessageBox.StandardButton.Yes
        ):
            return False
        Path(path).unlink(missing_ok=True)
        self.choice.value = "general"
        self.choice.reset_choices()
        show_info(f"Removed the model {Path(path).stem}.")
        return True

    def export_dialog(self) -> None:
        """Ask where to write the chosen model's bioimage.io package, then export it."""
        stem = Path(self.value).stem if self.value.endswith(".pt") else f"nuclei-{self.value}"
        path, _ = QFileDialog.getSaveFileName(
            self.choice.native,
            "Export for bioimage.io",
            f"{stem}.zip",
            "bioimage.io package (*.zip)",
        )
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> bool:
        """Export in a child process (``napari-unet-nuclei export``); never over a file."""
        if self.exporting is not None:
            return False
        if Path(path).exists():
            show_warning(f"{path} exists: choose a new file name (exports never replace files).")
            return False
        self.exporting = subprocess.Popen(
            [sys.executable, "-m", "napari_unet_nuclei.cli", "export", self.value, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.export.enabled = False
        self._timer.start()
        return True

    def _poll_export(self) -> None:
        proc = self.exporting
        if proc is None or proc.poll() is None:
            return
        self._timer.stop()
        self.exporting, self.export.enabled = None, True
        lines = [
            line
            for line in (proc.stdout.read() if proc.stdout else "").splitlines()
            if line.strip() and "Warning" not in line
        ]
        if proc.returncode == 0:
            show_info(" ".join(lines[-2:]))
        else:
            show_error(f"Export failed: {lines[-1] if lines else proc.returncode}")


def is_user_model(value: str) -> bool:
    """True for a file inside the user's models folder (the only models we ever delete)."""
    try:
        return Path(value).resolve().parent == user_models_dir().resolve()
    except (OSError, ValueError):
        return False
