"""Longest stall of napari's event loop while the widget segments a 2048² image.

A 10 ms QTimer ticks throughout; a stall is the longest gap between two ticks, from the
click on Segment nuclei until 1 s after the result is shown. The first run adds the
nuclei Labels layer, the next ones update it.
Needs a display; headless: xvfb-run -a -s "-screen 0 1600x1000x24" python bench/bench_stall.py
Usage: python bench/bench_stall.py [--size 2048] [--runs 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")  # no toasts
import napari  # noqa: E402
from qtpy.QtCore import QEventLoop, QTimer  # noqa: E402

from napari_unet_nuclei._sample_data import synthetic_nuclei  # noqa: E402

PLUGIN = "napari-unet-nuclei"
GOAL_MS = 250.0


class TickGaps:
    """A 10 ms timer that records the gaps between its ticks (the event loop's stalls)."""

    def __init__(self) -> None:
        self.gaps: list[tuple[float, float]] = []  # (gap, when it ended)
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self.last, now))
        self.last = now

    def reset(self) -> None:
        """Start a new measurement."""
        self.gaps.clear()
        self.last = time.perf_counter()


def spin(done: object, after_s: float = 1.0, timeout_s: float = 600.0) -> None:
    """Run the Qt event loop until ``done()`` holds, then ``after_s`` more seconds."""
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(20)
    end = time.monotonic() + timeout_s

    def check() -> None:
        if done() or time.monotonic() > end:
            poll.stop()
            QTimer.singleShot(int(1000 * after_s), loop.quit)

    poll.timeout.connect(check)
    poll.start()
    loop.exec()


def main() -> None:
    """Segment a synthetic image ``--runs`` times through the docked widget; print stalls."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    viewer = napari.Viewer(title="bench_stall")
    viewer.window.resize(1400, 900)
    viewer.add_image(synthetic_nuclei((args.size, args.size), seed=0)[0], name="nuclei")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    widget._device.value = args.device
    spin(lambda: True, after_s=1.0)  # let the window settle
    ticks = TickGaps()
    for run in range(1, args.runs + 1):
        ticks.reset()
        t0 = time.perf_counter()
        widget.run()
        spin(lambda: not widget._session.running and widget._segment.enabled)
        worst, when = max(ticks.gaps)
        print(
            f"run {run} ({args.size}², {time.perf_counter() - t0:.1f} s with 1 s after): "
            f"longest event-loop stall {1000 * worst:.0f} ms (goal ≤ {GOAL_MS:.0f} ms), "
            f"ending {when - t0:.1f} s after the click · {widget._status.value}",
            flush=True,
        )
    viewer.close()


if __name__ == "__main__":
    main()
