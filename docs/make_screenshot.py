"""Make docs/screenshot.png and docs/menu_segment.png (napari's Layers > Segment menu).

screenshot.png: napari with the sample, the docked widget and the labels.

Needs a display; headless: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshot.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")  # no toasts
import napari  # noqa: E402
from qtpy.QtWidgets import QApplication, QMenu  # noqa: E402

DOCS = Path(__file__).parent
PLUGIN = "napari-unet-nuclei"


def wait_for(condition, timeout: float = 300.0) -> None:
    """Spin the Qt event loop until ``condition()`` holds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("segmentation did not finish in time")
        QApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 1.0) -> None:
    """Let Qt lay out and paint for a moment."""
    end = time.monotonic() + seconds
    wait_for(lambda: time.monotonic() > end)


def submenu(menu: QMenu, title: str) -> tuple[QMenu, object]:
    """The sub-menu called ``title`` of ``menu`` (a menu bar or a menu), with its action."""
    for action in menu.actions():
        if action.text().replace("&", "") == title and action.menu() is not None:
            return action.menu(), action
    raise LookupError(f"no menu {title!r}")


def menu_shot(viewer: napari.Viewer, out: Path) -> None:
    """Open Layers > Segment and grab the screen around the window (menus are own windows)."""
    window = viewer.window._qt_window
    bar = window.menuBar()
    layers, action = submenu(bar, "Layers")
    layers.popup(bar.mapToGlobal(bar.actionGeometry(action).bottomLeft()))
    settle(0.5)
    segment, action = submenu(layers, "Segment")
    layers.setActiveAction(action)
    segment.popup(layers.mapToGlobal(layers.actionGeometry(action).topRight()))
    settle(0.5)
    frame = window.frameGeometry()
    shot = QApplication.primaryScreen().grabWindow(0, frame.x(), frame.y(), 900, 420)
    shot.save(str(out))
    segment.close()
    layers.close()
    print(f"wrote {out}: Layers > Segment holds {[a.text() for a in segment.actions()]}")


def main() -> None:
    """Open the sample, segment it with the widget, save a window grab and the menu grab."""
    viewer = napari.Viewer(title="napari-unet-nuclei")
    viewer.window.resize(1500, 1000)
    viewer.open_sample(PLUGIN, "synthetic_nuclei_2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    widget.run()
    wait_for(lambda: widget._segment.enabled and not widget._session.running)
    widget.result_layer().opacity = 0.6
    for _ in range(2):  # fit the image once the docked widget has settled the canvas size
        settle()
        viewer.reset_view()
    out = DOCS / "screenshot.png"
    viewer.screenshot(str(out), canvas_only=False)
    print(f"wrote {out}: {widget._status.value}")
    menu_shot(viewer, DOCS / "menu_segment.png")
    viewer.close()


if __name__ == "__main__":
    main()
