"""Widget tests: skipped cleanly where napari, a Qt binding or pytest-qt is missing.

Chained fixtures: a viewer with the sample, the docked widget, new widgets and a widget on a
stack (all on the CPU with the tiny test model: see ``tiny_weights``), a network-call counter,
the user's data folder in a temporary folder.
A test that needs real nuclei chooses a bundled model itself and is marked slow.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import platformdirs
import pytest

from napari_unet_nuclei import _engine, _widget
from napari_unet_nuclei._sample_data import synthetic_nuclei

from ._helpers import PLUGIN, on_cpu


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
def user_dir(monkeypatch, tmp_path):
    """The user's data folder, in a temporary folder."""
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "data"))
    return tmp_path / "data" / "models"


@pytest.fixture
def sample_viewer(make_napari_viewer):
    """A viewer holding the plugin's sample image (File > Open Sample)."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic_nuclei_2d")
    return viewer


@pytest.fixture
def docked(sample_viewer, tiny_weights):
    """The "Segment nuclei" widget docked through the manifest, on the CPU, tiny model."""
    _, widget = sample_viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    return on_cpu(widget, tiny_weights)


@pytest.fixture
def new_widget(tiny_weights):
    """``new_widget(viewer)``: a widget for ``viewer`` (not docked), on the CPU, tiny model."""
    return lambda viewer: on_cpu(_widget.NucleiWidget(viewer), tiny_weights)


@pytest.fixture
def stack_widget(make_napari_viewer, new_widget):
    """``stack_widget(rgb=False)``: (viewer, widget) on a (3, 128, 128[, 3]) synthetic stack."""

    def make(rgb: bool = False):
        planes = [synthetic_nuclei((128, 128), seed=i)[0] for i in range(3)]
        stack = np.stack([np.stack([p] * 3, axis=-1) if rgb else p for p in planes])
        viewer = make_napari_viewer()
        viewer.add_image(stack, name="stack", rgb=rgb)
        return viewer, new_widget(viewer)

    return make
