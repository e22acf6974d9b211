"""The widget's runs (``_qt/_run.py``): every one gets its labels from ``NucleusModel.segment``.

``routes`` (tests/conftest.py) makes the lower routes raise outside ``segment``; the maps
of a one-piece run come back with its labels and stay cached for the sliders. A stained-
looking image gets the hint of the stained-tissue model once (``model_hint``).
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import he_like
from napari.utils.notifications import notification_manager

from napari_unet_nuclei import _widget

from ._helpers import only_labels, run_and_wait


def test_a_plane_run_labels_through_segment_and_keeps_the_maps(qtbot, routes, docked,
                                                               sample_viewer):  # fmt: skip
    run_and_wait(qtbot, docked)
    assert len(routes.labels) == 1 and routes.labels[0].max() > 0
    np.testing.assert_array_equal(np.asarray(only_labels(sample_viewer).data), routes.labels[0])
    assert docked._session.prediction is not None  # the sliders re-label these maps


def test_a_whole_stack_run_labels_through_segment(qtbot, routes, stack_widget):
    viewer, widget = stack_widget()
    widget._stack_mode.value = _widget.WHOLE_STACK
    run_and_wait(qtbot, widget)
    assert len(routes.labels) == 1 and routes.labels[0].shape == (3, 128, 128)
    np.testing.assert_array_equal(np.asarray(only_labels(viewer).data), routes.labels[0])


def test_a_big_image_run_labels_through_segment(qtbot, routes, sample_viewer, new_widget):
    widget = new_widget(sample_viewer)
    widget.engine_options.update(big_image_pixels=10_000, block_size=128)
    run_and_wait(qtbot, widget)
    assert len(routes.labels) == 1 and routes.labels[0].max() > 0
    np.testing.assert_array_equal(np.asarray(only_labels(sample_viewer).data), routes.labels[0])
    assert widget._session.prediction is None  # block by block: no maps to re-label


@pytest.mark.slow  # runs the bundled "general" model (the hint is about it)
def test_stained_looking_images_get_a_model_hint_once(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(he_like(), name="slide", rgb=True)
    widget = _widget.NucleiWidget(viewer)  # the hint is about the bundled models: "general"
    widget._device.value = "cpu"

    def hints() -> int:
        return sum("Stained tissue (H&E)" in n.message for n in notification_manager.records)

    before = hints()
    run_and_wait(qtbot, widget)
    assert hints() == before + 1
    run_and_wait(qtbot, widget)
    assert hints() == before + 1  # once per layer
    viewer.add_image(he_like(1), name="other", rgb=True)
    widget._image.value = viewer.layers["other"]
    widget._model.value = "stained"
    run_and_wait(qtbot, widget)
    assert hints() == before + 1  # the stained model is already chosen


def test_the_status_line_says_when_the_haematoxylin_channel_was_read():
    from napari_unet_nuclei._prediction import Prediction
    from napari_unet_nuclei._qt._run import prediction_status

    maps = np.zeros((2, 8, 8), np.float32)
    grey = Prediction(*maps, seconds=0.5, info={"diameter": 15.7, "channel": "grey"})
    read_as_h = Prediction(*maps, seconds=0.5, info={"diameter": 15.7, "channel": "haematoxylin"})
    assert "haematoxylin" not in prediction_status(grey, 3, "", 10)
    text = prediction_status(read_as_h, 3, "", 10)
    assert text.startswith("3 nuclei · diameter ≈ 16 px · haematoxylin channel · network 0.5 s")
