"""What a run's outcome shows (``_qt/_results.py``) and the cached maps the sliders re-label.

The cache is dropped when the image or the device changes; a run whose image was edited
or removed meanwhile shows nothing and says so.
"""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Labels

from ._helpers import only_labels, run_and_wait, slow_network


def test_cache_dropped_when_the_image_changes(qtbot, docked, counted_predict):
    run_and_wait(qtbot, docked)
    network_calls = len(counted_predict)
    image = docked._image.value
    image.data = image.data[::-1].copy()
    assert docked._session.prediction is None
    assert docked._status.value == "Image changed: press Segment nuclei again."
    before = np.asarray(only_labels(docked._viewer).data).copy()
    docked._threshold.value = 0.9
    qtbot.wait(300)
    assert np.array_equal(np.asarray(only_labels(docked._viewer).data), before)
    run_and_wait(qtbot, docked)
    assert len(counted_predict) > network_calls


def test_cache_dropped_when_the_device_changes(qtbot, docked):
    run_and_wait(qtbot, docked)
    docked._device.value = "auto"
    assert docked._session.prediction is None


@pytest.mark.slow  # seconds: a network slowed on purpose to meet the race
def test_data_replaced_during_a_run_discards_its_result(qtbot, docked, monkeypatch):
    run_and_wait(qtbot, docked)
    layer = [lay for lay in docked._viewer.layers if isinstance(lay, Labels)][0]
    before = np.asarray(layer.data).copy()
    slow_network(monkeypatch)
    docked._segment.native.click()
    image = docked._image.value
    image.data = image.data[::-1].copy()  # the user edits the image while the network runs
    qtbot.waitUntil(lambda: not docked._session.running, timeout=60_000)
    assert np.array_equal(np.asarray(layer.data), before)
    assert docked._session.prediction is None
    assert "press Segment nuclei again" in docked._status.value


@pytest.mark.slow  # seconds: a network slowed on purpose to meet the race
def test_layer_removed_during_a_run_adds_nothing(qtbot, docked, monkeypatch):
    slow_network(monkeypatch)
    viewer = docked._viewer
    docked._segment.native.click()
    viewer.layers.remove(docked._image.value)
    qtbot.waitUntil(lambda: not docked._session.running, timeout=60_000)
    assert not [lay for lay in viewer.layers if isinstance(lay, Labels)]
    assert docked._session.prediction is None
