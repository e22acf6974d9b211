"""The dock widget fits beside the canvas: at most 340 px wide, whatever it shows."""

from __future__ import annotations

import numpy as np

from napari_unet_nuclei._qt._fit import MAX_WIDTH
from napari_unet_nuclei._widget import WHOLE_STACK

from ._helpers import PLUGIN

LONG_STATUS = (
    "12345 nuclei (plane 12, 3) · diameter ≈ 16 px · network 123.4 s on cuda:0 · re-label 1234 ms"
)


def test_dock_widget_fits_in_340_px(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(
        np.zeros((3, 64, 64), np.uint16),
        name="plate 7 well B12 field 3 DAPI, stitched and deconvolved.ome.tif",
    )
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    widget._stack_mode.value = WHOLE_STACK  # every control visible, Link Z included
    widget._status.value = LONG_STATUS
    qtbot.wait(20)
    assert not widget._link_z.native.isHidden()
    assert widget.native.minimumSizeHint().width() <= MAX_WIDTH == 340
    assert widget._status.value == widget._status.native.toolTip() == LONG_STATUS
    assert widget._status.native.wordWrap()
