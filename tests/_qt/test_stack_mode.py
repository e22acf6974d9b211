"""Stack mode (``_qt/_stack_mode.py``): the plane on screen or the whole stack (Link Z).

The controls shown only for stacks, the plan of a whole-stack run and what it says.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image
from napari.utils.notifications import notification_manager

from napari_unet_nuclei import NucleusModel, Segmentation, _widget, available_devices
from napari_unet_nuclei._qt._stack_mode import stack_summary, whole_stack_plan

from ._helpers import only_labels, run_and_wait, settle


def test_whole_stack_plan_names_a_guess_of_axes():
    clear = Image(np.zeros((10, 32, 32), np.uint16), name="z")
    axes, status, notice = whole_stack_plan(clear, "cpu")
    assert (axes, status, notice) == ("ZYX", "Segmenting all planes of 'z' (ZYX) on cpu…", "")
    unclear = Image(np.zeros((3, 32, 32), np.uint16), name="c")
    axes, status, notice = whole_stack_plan(unclear, "cpu")
    assert axes == "ZYX" and "may be channels" in status and "Split Stack" in notice
    summary = stack_summary(np.array([[[0, 1]], [[2, 3]]], np.uint16), 1.25, "cpu")
    assert summary == "3 nuclei in 2 planes · 1.2 s on cpu"


def test_stack_too_deep_gives_a_clear_notification(qtbot, make_napari_viewer, counted_predict):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 2, 2, 32, 32), np.uint16), name="stack")
    widget = _widget.NucleiWidget(viewer)
    widget._stack_mode.value = _widget.WHOLE_STACK
    widget.run()
    assert "Whole stack handles up to 4" in notification_manager.records[-1].message
    assert counted_predict == []
    assert not widget._session.running


def test_stack_controls_only_for_stacks(stack_widget):
    viewer, widget = stack_widget()
    assert widget._stack_mode.enabled and not widget._link_z.enabled
    widget._stack_mode.value = _widget.WHOLE_STACK
    assert widget._link_z.enabled
    viewer.add_image(np.zeros((32, 32)), name="flat")
    assert widget._image.value.name == "flat"
    assert not widget._stack_mode.enabled and not widget._link_z.enabled


def test_current_plane_labels_only_that_plane(qtbot, stack_widget, counted_predict):
    viewer, widget = stack_widget()
    viewer.dims.set_current_step(0, 1)
    run_and_wait(qtbot, widget)
    data = np.array(only_labels(viewer).data)  # copies: the layer's array is updated in place
    assert data.shape == (3, 128, 128) and data.dtype == np.uint32
    assert data[1].max() > 0 and not data[0].any() and not data[2].any()
    assert "(plane 1)" in widget._status.value
    viewer.dims.set_current_step(0, 2)
    run_and_wait(qtbot, widget)
    both = np.array(only_labels(viewer).data)
    assert np.array_equal(both[1], data[1]) and both[2].max() > 0 and not both[0].any()
    network_calls = len(counted_predict)
    settle(qtbot, widget, lambda: setattr(widget._threshold, "value", 0.95))
    after = np.asarray(only_labels(viewer).data)
    assert np.array_equal(after[1], data[1])  # only the cached plane (2) is re-labelled
    assert (after[2] > 0).sum() < (both[2] > 0).sum()
    assert len(counted_predict) == network_calls


def test_whole_stack_labels_every_plane_with_unique_ids(qtbot, stack_widget):
    viewer, widget = stack_widget()
    widget._stack_mode.value = _widget.WHOLE_STACK
    widget._device.value = "auto"  # the status names the device "auto" chose
    run_and_wait(qtbot, widget)
    assert widget._status.value.endswith(f" s on {available_devices()[0]}")
    data = np.asarray(only_labels(viewer).data)
    assert data.shape == (3, 128, 128)
    ids = [set(np.unique(plane)) - {0} for plane in data]
    assert all(ids)
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2]) and not (ids[0] & ids[2])
    assert widget._progress.value == widget._progress.max == 3
    assert "3 planes" in widget._status.value
    widget._threshold.value = 0.95  # no re-run: a hint instead
    assert not widget._timer.isActive() and not widget._session.running
    assert "whole stack" in widget._status.value
    assert np.array_equal(np.asarray(only_labels(viewer).data), data)


def test_rgb_stack_current_plane_and_whole_stack(qtbot, stack_widget):
    viewer, widget = stack_widget(rgb=True)
    viewer.dims.set_current_step(0, 0)
    run_and_wait(qtbot, widget)
    data = np.asarray(only_labels(viewer).data)
    assert data.shape == (3, 128, 128) and data[0].max() > 0 and not data[1:].any()
    widget._stack_mode.value = _widget.WHOLE_STACK
    run_and_wait(qtbot, widget)
    assert all(plane.max() > 0 for plane in np.asarray(only_labels(viewer).data))


def test_whole_stack_link_z_passes_zyx(qtbot, stack_widget, monkeypatch):
    seen: dict = {}

    def fake(self, stack, progress=None, **options):
        seen.update(options, device=str(self.device))
        progress(1, 1)
        return Segmentation(np.ones(np.shape(stack), np.uint16), None, "stack")

    monkeypatch.setattr(NucleusModel, "segment", fake)
    viewer, widget = stack_widget()
    widget._stack_mode.value = _widget.WHOLE_STACK
    widget._link_z.value = True
    widget._diameter.value = 20
    run_and_wait(qtbot, widget)
    assert seen["axes"] == "ZYX" and seen["link_z"] is True
    assert seen["device"] == "cpu" and seen["diameter"] == 20.0
    assert np.asarray(only_labels(viewer).data).shape == (3, 128, 128)
