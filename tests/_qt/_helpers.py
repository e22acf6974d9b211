"""Helpers shared by the widget tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import notification_manager

from napari_unet_nuclei import _engine, _widget

PLUGIN = "napari-unet-nuclei"
RUN_TIMEOUT_MS = 120_000


def run_and_wait(qtbot, widget) -> None:
    """Click Segment nuclei and wait until the worker has finished."""
    widget._segment.native.click()
    qtbot.waitUntil(
        lambda: not widget._session.running and widget._segment.enabled, timeout=RUN_TIMEOUT_MS
    )


def settle(qtbot, widget, change: Callable[[], None]) -> None:
    """Apply a control change and wait past the debounce for the re-label."""
    change()
    assert widget._timer.isActive()
    qtbot.waitUntil(lambda: not widget._timer.isActive(), timeout=5_000)
    qtbot.wait(10)


def n_labels(layer) -> int:
    return int(np.unique(np.asarray(layer.data)).size - 1)


def slow_network(monkeypatch, seconds: float = 0.5) -> None:
    """Make every network pass wait ``seconds`` first (the real network still runs)."""
    real = _engine.predict_maps

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "predict_maps", slow)


def only_labels(viewer) -> Labels:
    """The one nuclei Labels layer of ``viewer`` (never a pile of duplicates)."""
    found = [lay for lay in viewer.layers if isinstance(lay, Labels)]
    assert len(found) == 1, "exactly one nuclei Labels layer, never a pile of duplicates"
    return found[0]


def on_cpu(widget: _widget.NucleiWidget, weights: str) -> _widget.NucleiWidget:
    """``widget`` set to run the model in the file ``weights`` (offered and chosen) on the CPU."""
    widget._device.value = "cpu"
    assert widget._models.add(weights) and widget._model.value == weights
    return widget


def messages(severity=None) -> list[str]:
    """The notifications shown so far (of ``severity`` only, when given)."""
    return [
        n.message
        for n in notification_manager.records
        if severity is None or n.severity == severity
    ]
