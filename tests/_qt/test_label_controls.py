"""Threshold, Split, Min. size and Diameter (``_qt/_label_controls.py``) in the dock.

Threshold, Split and Min. size re-label the cached maps without the network; a new
diameter reaches the network and needs a new run.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet_nuclei import NucleusModel
from napari_unet_nuclei._sample_data import synthetic_nuclei

from ._helpers import n_labels, only_labels, run_and_wait, settle


def test_threshold_relabels_without_running_the_network(qtbot, docked, counted_predict):
    run_and_wait(qtbot, docked)
    network_calls = len(counted_predict)
    before = np.asarray(only_labels(docked._viewer).data).copy()
    settle(qtbot, docked, lambda: setattr(docked._threshold, "value", 0.95))
    after = np.asarray(only_labels(docked._viewer).data)
    assert not np.array_equal(before, after)
    assert (after > 0).sum() < (before > 0).sum()  # a higher threshold keeps fewer pixels
    assert len(counted_predict) == network_calls


@pytest.mark.slow
def test_split_toggle_changes_the_count(qtbot, docked, counted_predict):
    docked._model.value = "general"  # the tiny model's maps never split a nucleus
    run_and_wait(qtbot, docked)
    network_calls = len(counted_predict)
    split = n_labels(only_labels(docked._viewer))
    settle(qtbot, docked, lambda: setattr(docked._split, "value", False))
    merged = n_labels(only_labels(docked._viewer))
    assert merged < split
    assert len(counted_predict) == network_calls


def test_diameter_control_reaches_the_network_and_drops_the_cache(qtbot, docked, monkeypatch):
    seen: list[object] = []
    real = NucleusModel.segment

    def spying(self, image, **kwargs):
        seen.append(kwargs.get("diameter"))
        return real(self, image, **kwargs)

    monkeypatch.setattr(NucleusModel, "segment", spying)
    assert docked.diameter == "auto"  # the spin box starts at 0, shown as "auto"
    run_and_wait(qtbot, docked)
    assert seen == ["auto"]
    assert "diameter ≈" in docked._status.value
    docked._diameter.value = 24
    assert docked._session.prediction is None  # a new size needs a new network run
    assert docked._status.value == "Diameter changed: press Segment nuclei again."
    run_and_wait(qtbot, docked)
    assert seen == ["auto", 24.0]


@pytest.mark.slow
def test_tiny_nuclei_through_the_widget_and_the_slider(qtbot, make_napari_viewer, new_widget):
    """Nuclei of ~6 px are labelled on the network's grid: the layer still has the image's
    shape, the slider re-labels it without the network, and touching nuclei stay apart."""
    image, truth = synthetic_nuclei((192, 192), radius=(2.5, 3.5), touching=0.3, seed=1)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="tiny")
    widget = new_widget(viewer)
    widget._model.value = "general"
    run_and_wait(qtbot, widget)
    layer = only_labels(viewer)
    assert layer.data.shape == image.shape
    found = n_labels(layer)
    assert found >= 0.8 * truth.max()  # labelled on the image's own grid: about 0.6
    before = (np.asarray(layer.data) > 0).sum()
    settle(qtbot, widget, lambda: setattr(widget._threshold, "value", 0.9))
    after = np.asarray(only_labels(viewer).data)
    assert after.shape == image.shape and 0 < (after > 0).sum() < before
