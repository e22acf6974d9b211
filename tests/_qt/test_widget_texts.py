"""Every message of the docked widget is readable at the dock's width: whole lines, wrapped."""

from __future__ import annotations

from qtpy.QtCore import QRect, Qt

from napari_unet_nuclei._qt._fit import StatusLine

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
