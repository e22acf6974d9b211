"""The dock fits beside the canvas (``_qt/_fit.py``): at most 340 px wide, whatever it shows;
every status line spans the dock and wraps whole.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QRect, Qt

from napari_unet_nuclei._qt._fit import MAX_WIDTH, StatusLine
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
    controls = widget.native.widget()  # napari docks the scroll area around them
    assert controls.minimumSizeHint().width() <= MAX_WIDTH == 340
    assert widget.native.minimumWidth() <= MAX_WIDTH
    assert widget._status.value == widget._status.native.toolTip() == LONG_STATUS
    assert widget._status.native.wordWrap()


LONG = (
    "141 nuclei · diameter ≈ 16 px · network 0.6 s on cpu · re-label 30 ms, and then some "
    "more words so that the line has to wrap at least twice at the dock's width"
)


def shown_whole(qtbot, line: StatusLine) -> bool:
    """True when the label's rectangle holds all of its text, wrapped at its width."""
    qtbot.waitUntil(lambda: line.native.height() > 0)
    qtbot.wait(50)  # the layout settles
    native = line.native
    needed = native.fontMetrics().boundingRect(
        QRect(0, 0, native.contentsRect().width(), 100_000),
        int(Qt.TextFlag.TextWordWrap),
        native.text(),
    )
    return needed.height() <= native.contentsRect().height()


def test_status_lines_span_the_dock_and_wrap_whole(qtbot, docked):
    lines = [docked._status, docked._folder.status, docked._finetune.status]
    dock_width = docked.native.width()
    for line in lines:
        line.value = LONG
        assert line.native.wordWrap() and line.native.toolTip() == LONG
        assert not line._labeled_widget()._label_widget.visible  # no empty name column
        assert shown_whole(qtbot, line)
        assert line.native.width() >= dock_width - 40, (line.native.width(), dock_width)


def test_a_short_window_scrolls_the_dock_instead_of_cutting_its_lines(qtbot, docked):
    """In a window shorter than the controls, every wrapped line stays whole (it scrolls)."""
    window = docked._viewer.window._qt_window
    window.show()
    window.resize(1280, 600)
    lines = [docked._status, docked._folder.status, docked._finetune.status]
    for line in lines:
        line.value = LONG
    for line in lines:
        assert shown_whole(qtbot, line)
    bar = docked.native.verticalScrollBar()
    assert bar.maximum() > 0  # the controls are taller than the dock: they scroll
