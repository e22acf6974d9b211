"""Make docs/screenshot.png: napari with the sample, the docked widget and the labels.

Needs a display; headless: xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshot.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")  # no toasts
import napari  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402

OUT = Path(__file__).with_name("screenshot.png")
PLUGIN = "napari-unet-nuclei"


def wait_for(condition, timeout: float = 300.0) -> None:
    """Spin the Qt event loop until ``condition()`` holds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("segmentation did not finish in time")
        QApplication.processEvents()
        time.sleep(0.02)


def main() -> None:
    """Open the sample, segment it with the widget, save a window grab."""
    viewer = napari.Viewer(title="napari-unet-nuclei")
    viewer.window.resize(1500, 900)
    viewer.open_sample(PLUGIN, "synthetic_nuclei_2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    widget.run()
    wait_for(lambda: widget._segment.enabled and widget.result_layer() is not None)
    widget.result_layer().opacity = 0.6
    for _ in range(2):  # fit the image once the docked widget has settled the canvas size
        for _ in range(20):
            QApplication.processEvents()
            time.sleep(0.05)
        viewer.reset_view()
    viewer.screenshot(str(OUT), canvas_only=False)
    print(f"wrote {OUT}: {widget._status.value}")
    viewer.close()


if __name__ == "__main__":
    main()
