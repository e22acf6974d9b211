"""The widget under bad conditions: nothing to segment, a failed save, changes mid-run."""

from __future__ import annotations

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_unet_nuclei import _widget

from ._helpers import run_and_wait, slow_network


def _messages(severity=None) -> list[str]:
    return [
        n.message
        for n in notification_manager.records
        if severity is None or n.severity == severity
    ]


def test_no_image_layer_asks_for_one(qtbot, make_napari_viewer, counted_predict):
    viewer = make_napari_viewer()
    widget = _widget.NucleiWidget(viewer)
    widget.run()
    assert any("Open an image first" in m for m in _messages())
    assert not counted_predict and not widget._session.running


def _save_fails(docked, path, *reasons: str) -> None:
    """Save to ``path``: an error notification naming it; layer, status and files untouched."""
    layer = [lay for lay in docked._viewer.layers if isinstance(lay, Labels)][0]
    before, status = np.asarray(layer.data).copy(), docked._status.value
    errors = len(_messages(NotificationSeverity.ERROR))
    assert docked.save_to(str(path), docked._image.value, layer) == []
    new = _messages(NotificationSeverity.ERROR)[errors:]
    assert len(new) == 1
    said, why = new[0].rsplit(": ", 1)
    assert said == f"Could not save the labels: cannot write {path}" and why in reasons
    assert np.array_equal(np.asarray(layer.data), before)
    assert docked._status.value == status


def test_missing_folder_is_a_clear_error_and_the_layer_is_untouched(qtbot, docked, tmp_path):
    run_and_wait(qtbot, docked)
    _save_fails(docked, tmp_path / "missing" / "deeper" / "nuclei.tif", "No such file or directory")
    assert not (tmp_path / "missing").exists()


def test_read_only_location_is_a_clear_error(qtbot, docked, read_only_dir):
    run_and_wait(qtbot, docked)
    _save_fails(
        docked,
        read_only_dir / "nuclei.tif",
        "Permission denied",
        "Read-only file system",
        "Operation not permitted",
        "No such file or directory",
    )
    assert not (read_only_dir / "nuclei.tif").exists()


def test_full_disk_is_a_clear_error_and_leaves_no_file(qtbot, docked, tmp_path, full_disk):
    run_and_wait(qtbot, docked)
    full_disk(2_000)
    _save_fails(docked, tmp_path / "nuclei.tif", "No space left on device")
    assert list(tmp_path.iterdir()) == []


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


def test_layer_removed_during_a_run_adds_nothing(qtbot, docked, monkeypatch):
    slow_network(monkeypatch)
    viewer = docked._viewer
    docked._segment.native.click()
    viewer.layers.remove(docked._image.value)
    qtbot.waitUntil(lambda: not docked._session.running, timeout=60_000)
    assert not [lay for lay in viewer.layers if isinstance(lay, Labels)]
    assert docked._session.prediction is None


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
