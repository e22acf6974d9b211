"""The "Segment nuclei" dock widget in a real (headless) napari viewer."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from napari.layers import Labels
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_unet_nuclei import NucleusModel, _engine, _widget
from napari_unet_nuclei._sample_data import synthetic_nuclei, synthetic_sample

from ._helpers import n_labels, only_labels, run_and_wait, settle


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


def test_cache_dropped_when_the_image_changes(qtbot, docked, counted_predict):
    run_and_wait(qtbot, docked)
    network_calls = len(counted_predict)
    image = docked._image.value
    image.data = image.data[::-1].copy()
    assert docked._session.prediction is None
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


def test_labels_keep_the_image_scale_and_translate(qtbot, make_napari_viewer, new_widget):
    viewer = make_napari_viewer()
    image, _ = synthetic_sample((128, 128))
    viewer.add_image(image, name="scaled", scale=(0.5, 0.25), translate=(10, 20))
    widget = new_widget(viewer)
    run_and_wait(qtbot, widget)
    layer = only_labels(viewer)
    assert len(layer.features) == n_labels(layer) > 0
    assert tuple(layer.scale) == (0.5, 0.25)
    assert tuple(layer.translate) == (10, 20)
    assert np.allclose(layer.features["area_scaled"], layer.features["area_px"] * 0.125)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_save_button_writes_labels_and_csv(qtbot, docked, tmp_path, monkeypatch, suffix):
    import tifffile
    from imageio.v3 import imread

    run_and_wait(qtbot, docked)
    target = tmp_path / f"nuclei{suffix}"
    (tmp_path / "nuclei_measurements.csv").write_text("keep me")
    monkeypatch.setattr(
        _widget.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    docked._save.native.click()
    labels = np.asarray(only_labels(docked._viewer).data)
    back = tifffile.imread(target) if suffix == ".tif" else imread(target)
    assert np.array_equal(back, labels)
    assert (tmp_path / "nuclei_measurements.csv").read_text() == "keep me"  # never overwritten
    rows = (tmp_path / "nuclei_measurements-2.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + n_labels(only_labels(docked._viewer))


def test_file_save_selected_layers_writes_imagej_tiff(qtbot, docked, tmp_path):
    import tifffile

    run_and_wait(qtbot, docked)
    viewer = docked._viewer
    viewer.layers.selection = {only_labels(viewer)}
    [path] = viewer.layers.save(
        str(tmp_path / "nuclei.tif"), selected=True, plugin="napari-unet-nuclei"
    )
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert np.array_equal(tif.asarray(), np.asarray(only_labels(viewer).data))


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
    run_and_wait(qtbot, docked)
    assert seen == ["auto", 24.0]


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
    run_and_wait(qtbot, docked)
    assert seen[-1] == str(other)


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
