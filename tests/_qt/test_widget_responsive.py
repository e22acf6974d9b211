"""napari stays responsive: the result's layer exists before the result, labelled off-thread."""

from __future__ import annotations

import threading

import numpy as np

from napari_unet_nuclei import _api

from ._helpers import n_labels, only_labels, run_and_wait, slow_network


def test_layer_added_at_the_start_and_labels_made_in_the_worker(qtbot, docked, monkeypatch):
    on_main: list[bool] = []
    real = _api.Prediction.labels

    def recording(self, *args, **kwargs):
        on_main.append(threading.current_thread() is threading.main_thread())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_api.Prediction, "labels", recording)
    slow_network(monkeypatch, 0.3)
    docked._segment.native.click()
    layer = only_labels(docked._viewer)  # there at once, empty, while the network runs
    assert docked._session.running and not np.any(layer.data)
    qtbot.waitUntil(lambda: not docked._session.running, timeout=120_000)
    assert only_labels(docked._viewer) is layer and n_labels(layer) > 0
    assert on_main and not any(on_main)  # the first labels: made in the worker
    assert len(layer.features) == n_labels(layer)
    run_and_wait(qtbot, docked)  # a second run updates the same layer
    assert only_labels(docked._viewer) is layer
