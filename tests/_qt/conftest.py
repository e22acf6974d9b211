"""Widget tests: skipped cleanly where napari, a Qt binding or pytest-qt is missing.

Chained fixtures: a viewer with the sample, the docked widget, a network-call counter.
"""

from __future__ import annotations

import importlib.util

import pytest

from napari_unet_nuclei import _engine

from ._helpers import PLUGIN


def _qt_available() -> bool:
    if not all(importlib.util.find_spec(m) for m in ("napari", "qtpy", "pytestqt")):
        return False
    try:
        import qtpy.QtWidgets  # noqa: F401  (raises when no Qt binding is installed)
    except Exception:
        return False
    return True


collect_ignore_glob = [] if _qt_available() else ["test_*.py"]


@pytest.fixture
def counted_predict(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the network (``_engine.predict_maps``); the real one still runs."""
    calls: list[int] = []
    real = _engine.predict_maps

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "predict_maps", counting)
    return calls


@pytest.fixture
def sample_viewer(make_napari_viewer):
    """A viewer holding the plugin's sample image (File > Open Sample)."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic_nuclei_2d")
    return viewer


@pytest.fixture
def docked(sample_viewer):
    """The "Segment nuclei" widget docked through the manifest, on the CPU."""
    _, widget = sample_viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    widget._device.value = "cpu"
    return widget
