"""The nuclei Labels layer of an image (``_qt/_layers.py``): its scale and translate, a plane
merged into a stack's labels, added empty when a run starts (napari stays responsive)
and labelled in the worker, removed when the run had nothing to show.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Labels

from napari_unet_nuclei import _api
from napari_unet_nuclei._qt._layers import (
    find_result,
    merge_plane,
    placeholder_result,
    remove_placeholder,
)
from napari_unet_nuclei._sample_data import synthetic_sample

from ._helpers import n_labels, only_labels, run_and_wait, slow_network


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


def test_merge_plane_keeps_the_other_planes():
    old = Labels(np.arange(12, dtype=np.uint16).reshape(3, 2, 2))
    merged = merge_plane(old, (3, 2, 2), np.full((2, 2), 9), (1,))
    assert merged.dtype == np.uint32 and merged[1].tolist() == [[9, 9], [9, 9]]
    assert np.array_equal(merged[[0, 2]], np.asarray(old.data)[[0, 2]])
    fresh = merge_plane(None, (2, 2, 2), np.ones((2, 2)), (0,))
    assert fresh[0].all() and not fresh[1].any()


@pytest.mark.slow  # seconds: a network slowed on purpose to meet the race
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


def test_a_placeholder_is_added_once_and_removed_only_while_empty():
    viewer = ViewerModel()
    rgb = np.zeros((3, 32, 48, 3), np.uint8)
    source = viewer.add_image(rgb, name="cells", rgb=True, scale=(1, 2, 2))
    empty = placeholder_result(viewer, source)
    assert empty.name == "cells nuclei" and empty.data.shape == (3, 32, 48)
    assert empty.data.dtype == np.uint16 and tuple(empty.scale) == (1, 2, 2)
    assert find_result(viewer, source) is empty
    assert placeholder_result(viewer, source) is None  # never a second nuclei layer
    empty.data[1, 5, 5] = 4  # labels arrived: the layer is a result now, and stays
    remove_placeholder(viewer, empty)
    assert find_result(viewer, source) is empty
    empty.data[...] = 0
    remove_placeholder(viewer, empty)
    assert find_result(viewer, source) is None and len(viewer.layers) == 1
    remove_placeholder(viewer, None)  # a run that added no layer: nothing to remove
