"""The widget's parts under ``_qt/`` that need no viewer: saving names, stack plans, planes."""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels

from napari_unet_nuclei._qt._layers import merge_plane
from napari_unet_nuclei._qt._save import save_target
from napari_unet_nuclei._qt._stack_mode import stack_summary, whole_stack_plan


def test_save_target_adds_tif_without_overwriting(tmp_path):
    assert save_target(str(tmp_path / "a.PNG")) == tmp_path / "a.PNG"
    assert save_target(str(tmp_path / "a.tiff")) == tmp_path / "a.tiff"
    assert save_target(str(tmp_path / "nuclei")) == tmp_path / "nuclei.tif"
    (tmp_path / "nuclei.tif").write_bytes(b"mine")
    assert save_target(str(tmp_path / "nuclei")) == tmp_path / "nuclei-2.tif"


def test_whole_stack_plan_names_a_guess_of_axes():
    clear = Image(np.zeros((10, 32, 32), np.uint16), name="z")
    axes, status, notice = whole_stack_plan(clear, "cpu")
    assert (axes, status, notice) == ("ZYX", "Segmenting all planes of 'z' (ZYX) on cpu…", "")
    unclear = Image(np.zeros((3, 32, 32), np.uint16), name="c")
    axes, status, notice = whole_stack_plan(unclear, "cpu")
    assert axes == "ZYX" and "may be channels" in status and "Split Stack" in notice
    summary = stack_summary(np.array([[[0, 1]], [[2, 3]]], np.uint16), 1.25, "cpu")
    assert summary == "3 nuclei in 2 planes · 1.2 s on cpu"


def test_merge_plane_keeps_the_other_planes():
    old = Labels(np.arange(12, dtype=np.uint16).reshape(3, 2, 2))
    merged = merge_plane(old, (3, 2, 2), np.full((2, 2), 9), (1,))
    assert merged.dtype == np.uint32 and merged[1].tolist() == [[9, 9], [9, 9]]
    assert np.array_equal(merged[[0, 2]], np.asarray(old.data)[[0, 2]])
    fresh = merge_plane(None, (2, 2, 2), np.ones((2, 2)), (0,))
    assert fresh[0].all() and not fresh[1].any()
