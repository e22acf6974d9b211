"""Fine-tune in the widget (``_qt/_finetune.py``): correct labels, press Fine-tune, get the
new model selected.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtWidgets import QMessageBox
from scipy import ndimage as ndi

from napari_unet_nuclei import _engine
from napari_unet_nuclei._qt._finetune import LABELLED_BOX, labelled_box
from napari_unet_nuclei._sample_data import synthetic_nuclei, synthetic_sample

from ._helpers import PLUGIN, run_and_wait

FINETUNE_TIMEOUT_MS = 600_000


@pytest.fixture
def corrected(make_napari_viewer, user_dir):
    """A viewer with ring-shaped nuclei (the base model misses them) and their true labels.

    The widget's model is the bundled "general" one: the base that fine-tuning improves.
    """
    image, labels = synthetic_nuclei((256, 256), seed=5)
    rings = np.where(ndi.binary_erosion(labels > 0, iterations=3), image.min(), image)
    viewer = make_napari_viewer()
    viewer.add_image(rings.astype(np.float32), name="rings")
    viewer.add_labels(labels.astype(np.uint16), name="my corrections")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    widget._device.value = "cpu"
    widget._image.value = viewer.layers["rings"]
    widget._finetune.labels.value = viewer.layers["my corrections"]
    return viewer, widget


@pytest.mark.slow
def test_finetune_selects_and_uses_the_new_model(qtbot, corrected, user_dir, monkeypatch):
    viewer, widget = corrected
    assert "Fine-tune" in widget._finetune.start.text
    widget._finetune.ask_keep_worse = lambda text: pytest.fail(f"asked although better: {text}")
    widget._finetune.steps.value = 40
    widget._finetune.start.native.click()
    assert widget._finetune.running and widget._finetune.cancel.enabled
    qtbot.waitUntil(lambda: widget._finetune.progress.value > 0, timeout=FINETUNE_TIMEOUT_MS)
    assert "left" in widget._finetune.status.value  # the time left, while it runs
    qtbot.waitUntil(lambda: not widget._finetune.running, timeout=FINETUNE_TIMEOUT_MS)
    status = widget._finetune.status.value
    assert "saved and selected" in status, status
    base, tuned = map(float, re.findall(r"(?:base model|fine-tuned) (\d\.\d{3})", status))
    assert tuned >= base  # both figures shown; not below the base, so selected
    chosen = widget._model.value
    assert chosen.startswith(str(user_dir)) and (user_dir / chosen.split("/")[-1]).exists()
    assert not widget._models.remove.native.isHidden()
    used = []
    real = _engine.model_on
    monkeypatch.setattr(_engine, "model_on", lambda d, w=None: used.append(w) or real(d, w))
    run_and_wait(qtbot, widget)
    assert used == [chosen] and viewer.layers["rings nuclei"].data.max() > 0
    widget._model.value = "general"  # switching back: one choice
    assert widget._model.value == "general" and Path(chosen).exists()


class FinishedJob:
    """A fine-tuning job that has ended with ``event``; its model waits at ``candidate``."""

    def __init__(self, event: dict, candidate: Path | None) -> None:
        self.event, self.candidate, self.discarded = event, candidate, False

    def events(self) -> list[dict]:
        return [self.event]

    def keep_candidate(self, path: Path) -> Path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(self.candidate, path)
        return Path(path)

    def discard(self) -> None:
        self.discarded = True


def _done(worse: bool, path: str | None) -> dict:
    return dict(
        event="done",
        path=path,
        worse=worse,
        base_score=0.8125,
        score=0.75 if worse else 0.84375,
        steps=25,
        seconds=95.0,
        images=1,
        nuclei=40,
    )


def test_a_model_not_below_the_base_is_selected_with_both_scores(corrected, user_dir, tiny_weights):
    _, widget = corrected
    user_dir.mkdir(parents=True)
    tuned = user_dir / "tuned.pt"
    shutil.copy(tiny_weights, tuned)
    controls = widget._finetune
    controls.ask_keep_worse = lambda text: pytest.fail("asked about a better model")
    controls._job = FinishedJob(_done(False, str(tuned)), None)
    controls.poll()
    assert widget._model.value == str(tuned) and not controls.running
    status = controls.status.value
    assert "base model 0.812" in status and "fine-tuned 0.844" in status and "+0.031" in status
    assert "1 min 35 s" in status and "switch back" in status


@pytest.mark.parametrize("keep", [True, False])
def test_a_worse_model_asks_before_it_is_kept(corrected, user_dir, tmp_path, tiny_weights, keep):
    _, widget = corrected
    waiting = tmp_path / "candidate.pt"
    shutil.copy(tiny_weights, waiting)
    controls, asked = widget._finetune, []
    controls.ask_keep_worse = lambda text: asked.append(text) or keep
    job = FinishedJob(_done(True, None), waiting)
    controls._job, controls._output = job, user_dir / "tuned.pt"
    controls.poll()
    assert len(asked) == 1 and "below the base" in asked[0]
    assert "base model 0.812" in asked[0] and "fine-tuned 0.750" in asked[0]
    assert not controls.running and controls.start.enabled
    if keep:
        assert widget._model.value == str(user_dir / "tuned.pt") and not waiting.exists()
        assert "Kept as you asked" in controls.status.value
    else:
        assert widget._model.value == "general" and job.discarded
        assert not (user_dir / "tuned.pt").exists() and "Not kept" in controls.status.value


def test_the_question_about_a_worse_model_defaults_to_no(corrected):
    _, widget = corrected
    text = "The fine-tuned model scored below the base model (held-out AP@0.5: base model 0.812)."
    box = widget._finetune.question_box(text)
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    assert box.text().startswith(text) and box.text().endswith("Keep it anyway?")
    assert box.standardButtons() == yes | no and box.defaultButton() is box.button(no)
    assert box.windowTitle() == "Keep the fine-tuned model?"


def without_wrong_nuclei(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``found`` with every nucleus erased that matches no true nucleus (IoU < 0.5)."""
    out = found.copy()
    for i in np.unique(found)[1:]:
        mask = found == i
        ids, counts = np.unique(truth[mask], return_counts=True)
        best = max((c, t) for t, c in zip(ids, counts, strict=True) if t) if ids.any() else (0, 0)
        union = mask.sum() + (truth == best[1]).sum() - best[0] if best[1] else mask.sum()
        if best[0] / union < 0.5:
            out[mask] = 0
    return out


@pytest.mark.slow
def test_correct_the_sample_then_fine_tune(qtbot, make_napari_viewer, user_dir):
    """The user's path: segment the sample, erase the wrong nuclei, press Fine-tune."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic_nuclei_2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    widget._device.value = "cpu"
    run_and_wait(qtbot, widget)
    layer = widget.result_layer()
    found, truth = np.asarray(layer.data), synthetic_sample()[1]
    corrected = without_wrong_nuclei(found, truth)
    assert 0 < len(np.unique(corrected)) <= len(np.unique(found))
    layer.data = corrected
    asked = []
    controls = widget._finetune
    controls.ask_keep_worse = lambda text: asked.append(text) or True
    controls.labels.reset_choices()
    controls.labels.value = layer
    controls.steps.value = 40
    controls.start.native.click()
    qtbot.waitUntil(lambda: not controls.running, timeout=FINETUNE_TIMEOUT_MS)
    status = controls.status.value
    base, tuned = map(float, re.findall(r"(?:base model|fine-tuned) (\d\.\d{3})", status))
    assert len(asked) == (tuned < base), status  # asked only about a worse model
    assert ("Kept as you asked" if asked else "saved and selected") in status
    chosen = widget._model.value
    assert chosen.startswith(str(user_dir)) and Path(chosen).exists()
    widget._model.value = "general"  # switching back: one choice
    assert widget._model.value == "general"


@pytest.mark.slow
def test_cancel_fine_tuning_writes_no_model(qtbot, corrected, user_dir):
    _, widget = corrected
    widget._finetune.steps.value = 10_000
    widget._finetune.start.native.click()
    qtbot.waitUntil(lambda: widget._finetune.progress.value > 0, timeout=FINETUNE_TIMEOUT_MS)
    widget._finetune.cancel.native.click()
    assert not widget._finetune.running and "cancelled" in widget._finetune.status.value
    assert not list(user_dir.glob("*.pt")) and widget._finetune.start.enabled


def test_labels_of_another_shape_are_refused(qtbot, corrected):
    viewer, widget = corrected
    viewer.add_labels(np.zeros((10, 10), np.uint16), name="small")
    widget._finetune.labels.value = viewer.layers["small"]
    with pytest.raises(ValueError, match="does not match"):
        widget._finetune.training_pair()
    widget._finetune.run()  # a warning, no process
    assert not widget._finetune.running


def test_labelled_area_only_cuts_to_the_labels(corrected):
    _, widget = corrected
    labels = np.zeros((200, 300), np.uint16)
    labels[50:60, 100:120] = 1
    image, cut = labelled_box(np.ones((200, 300, 3)), labels)
    assert cut.shape == (10 + 32, 20 + 32) and image.shape == (42, 52, 3)
    widget._finetune.region.value = LABELLED_BOX
    image, labels = widget._finetune.training_pair()
    assert image.shape == labels.shape
