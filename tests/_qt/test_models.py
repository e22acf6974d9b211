"""The Model choice (``_qt/_models.py``): the chosen model reaches the engine; model files
loaded and removed (never one outside the user's folder); export for bioimage.io in a
child process.
"""

from __future__ import annotations

import shutil

import pytest

from napari_unet_nuclei import NucleusModel

from ._helpers import run_and_wait


def test_model_choice_reaches_the_engine_and_drops_the_cache(
    qtbot, docked, tiny_weights, tmp_path, monkeypatch
):
    other = tmp_path / "other.pt"
    shutil.copy(tiny_weights, other)
    seen = []
    real = NucleusModel.segment

    def spy(self, image, **kwargs):
        seen.append(self.weights)
        return real(self, image, **kwargs)

    monkeypatch.setattr(NucleusModel, "segment", spy)
    run_and_wait(qtbot, docked)
    assert seen == [tiny_weights] and docked._session.prediction is not None
    docked._models.add(other)  # offered and chosen, as "Load model file…" does
    assert docked._model.value == str(other) and docked._session.prediction is None
    assert docked._status.value == "Model changed: press Segment nuclei again."
    run_and_wait(qtbot, docked)
    assert seen[-1] == str(other)


def test_load_and_remove_models(qtbot, user_dir, docked, tmp_path, tiny_weights):
    import shutil

    widget = docked
    outside = tmp_path / "shared_model.pt"
    shutil.copy(tiny_weights, outside)
    assert widget._models.add(outside) and widget._model.value == str(outside)
    assert widget._models.remove.native.isHidden()  # never deletes a file outside the user dir
    assert not widget._models.remove_model(str(outside), confirm=False) and outside.exists()
    user_dir.mkdir(parents=True)
    mine = user_dir / "mine.pt"
    shutil.copy(tiny_weights, mine)
    widget._model.reset_choices()
    widget._model.value = str(mine)
    assert not widget._models.remove.native.isHidden()
    assert widget._models.remove_model(str(mine), confirm=False)
    assert not mine.exists() and widget._model.value == "general"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    assert not widget._models.add(bad) and widget._model.value == "general"


@pytest.mark.slow  # seconds: a child process
def test_export_for_bioimageio_in_a_child_process(qtbot, docked, tmp_path, tiny_weights):
    import zipfile

    widget = docked
    assert widget._models.add(tiny_weights)  # the chosen model is exported
    out = tmp_path / "tiny.zip"
    assert widget._models.export_to(out)
    assert not widget._models.export.enabled
    qtbot.waitUntil(lambda: widget._models.exporting is None, timeout=300_000)
    assert widget._models.export.enabled
    assert "rdf.yaml" in zipfile.ZipFile(out).namelist()
    assert not widget._models.export_to(out)  # an existing file is never replaced
