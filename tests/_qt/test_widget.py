"""The "Segment nuclei" dock (``_widget.py``) as a whole, in a real (headless) napari viewer.

The sample segmented, the device list, the image chooser following the active layer,
errors as notifications, nothing to segment, closing the widget or the viewer mid-run.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from napari.layers import Labels
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_unet_nuclei import _engine, _widget
from napari_unet_nuclei._sample_data import synthetic_sample

from ._helpers import messages, n_labels, only_labels, run_and_wait, slow_network


@pytest.mark.slow
def test_segment_sample_gives_plausible_labels(qtbot, docked, counted_predict):
    viewer = docked._viewer
    docked._model.value = "general"  # real nuclei: the bundled model
    run_and_wait(qtbot, docked)
    layer = only_labels(viewer)
    truth = int(synthetic_sample()[1].max())
    assert layer.name == "Synthetic nuclei nuclei"
    assert 0.3 * truth <= n_labels(layer) <= 1.5 * truth
    assert counted_predict  # the network ran (once, or twice when it first measures the size)
    assert f"{n_labels(layer)} nuclei" in docked._status.value
    assert len(layer.features) == n_labels(layer)
    assert list(layer.features["index"]) == list(range(1, n_labels(layer) + 1))


def test_device_list_shows_only_this_machine(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    monkeypatch.setattr(_widget, "available_devices", lambda: ["cuda:0", "cuda:1", "mps", "cpu"])
    widget = _widget.NucleiWidget(viewer)
    shown = [widget._device.native.itemText(i) for i in range(widget._device.native.count())]
    assert shown == ["Auto", "CUDA:0", "CUDA:1", "MPS", "CPU"]
    assert widget._device.choices == ("auto", "cuda:0", "cuda:1", "mps", "cpu")


def test_device_list_matches_torch(make_napari_viewer):
    from napari_unet_nuclei import available_devices

    widget = _widget.NucleiWidget(make_napari_viewer())
    assert widget._device.choices == ("auto", *available_devices())


def test_error_goes_to_a_notification(qtbot, docked, monkeypatch):
    def failing(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(_engine, "predict_maps", failing)
    run_and_wait(qtbot, docked)
    errors = [n for n in notification_manager.records if n.severity == NotificationSeverity.ERROR]
    assert errors and "Choose CPU" in errors[-1].message
    assert not [lay for lay in docked._viewer.layers if isinstance(lay, Labels)]
    assert "failed" in docked._status.value


def test_no_image_layer_asks_for_one(qtbot, make_napari_viewer, counted_predict):
    viewer = make_napari_viewer()
    widget = _widget.NucleiWidget(viewer)
    widget.run()
    assert any("Open an image first" in m for m in messages())
    assert not counted_predict and not widget._session.running


def test_chooser_follows_the_active_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    first = viewer.add_image(np.zeros((32, 32)), name="first")
    widget = _widget.NucleiWidget(viewer)
    second = viewer.add_image(np.ones((32, 32)), name="second")
    assert widget._image.value.name == "second"
    viewer.layers.selection.active = first
    assert widget._image.value.name == "first"
    viewer.layers.selection.active = second
    assert widget._image.value.name == "second"


def test_closing_the_widget_while_running_is_harmless(
    qtbot, sample_viewer, new_widget, monkeypatch
):
    widget = new_widget(sample_viewer)

    def slow_maps(*args, **kwargs):
        for done in range(1, 500):
            time.sleep(0.01)
            kwargs["progress"](done, 500)

    monkeypatch.setattr(_engine, "predict_maps", slow_maps)
    widget.run()
    session = widget._session
    widget.native.close()
    widget.native.deleteLater()
    qtbot.waitUntil(lambda: session.closed, timeout=5_000)
    qtbot.waitUntil(lambda: not session.running, timeout=10_000)
    assert not [lay for lay in sample_viewer.layers if isinstance(lay, Labels)]


def test_viewer_closed_during_a_run_is_harmless(qtbot, make_napari_viewer, new_widget, monkeypatch):
    from napari_unet_nuclei._sample_data import synthetic_sample

    viewer = make_napari_viewer()
    image, _ = synthetic_sample()
    viewer.add_image(image, name="sample")
    widget = new_widget(viewer)
    viewer.window.add_dock_widget(widget)
    slow_network(monkeypatch, 1.0)
    widget._segment.native.click()
    worker = widget._session.worker
    viewer.close()
    qtbot.waitUntil(lambda: worker is None or not worker.is_running, timeout=60_000)
    assert widget._session.closed or not widget._session.running
