"""Helpers shared by the widget tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PLUGIN = "napari-unet-nuclei"
RUN_TIMEOUT_MS = 120_000


def run_and_wait(qtbot, widget) -> None:
    """Click Segment nuclei and wait until the worker has finished."""
    widget._segment.native.click()
    qtbot.waitUntil(lambda: not widget._session.running and widget._segment.enabled,
                    timeout=RUN_TIMEOUT_MS)


def settle(qtbot, widget, change: Callable[[], None]) -> None:
    """Apply a control change and wait past the debounce for the re-label."""
    change()
    assert widget._timer.isActive()
    qtbot.waitUntil(lambda: not widget._timer.isActive(), timeout=5_000)
    qtbot.wait(10)


def n_labels(layer) -> int:
    return int(np.unique(np.asarray(layer.data)).size - 1)
