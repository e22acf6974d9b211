"""Make docs/widget_*.png: the docked "Segment nuclei" widget in each of its states.

widget_idle.png (just opened), widget_done.png (the sample segmented), widget_folder.png
(Segment a folder… done, one unreadable file), widget_finetune_running.png and
widget_finetune_done.png (Fine-tune model on the sample's labels: its progress, then both
held-out scores; widget_finetune_ask.png, the question, only when the run scored below the
base model), widget_tracks.png (a time-lapse followed over time: napari's window with the
Tracks layer). Every message must be readable at the dock's
width: the script prints each status text and the widget's width.

Needs a display; headless:
xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_widget_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")  # no toasts
# the fine-tuned model goes to a user data folder of its own, removed at the end
USER_DATA = tempfile.TemporaryDirectory(prefix="napari-unet-nuclei-shots-")
os.environ["XDG_DATA_HOME"] = USER_DATA.name
import napari  # noqa: E402
import tifffile  # noqa: E402

from napari_unet_nuclei._sample_data import synthetic_nuclei  # noqa: E402

DOCS = Path(__file__).parent
sys.path.insert(0, str(DOCS.parent / "tests"))  # the synthetic time-lapse of the tests
sys.path.insert(0, str(DOCS))
from _timelapse import image_of, synthetic_movie  # noqa: E402
from make_screenshot import PLUGIN, settle, wait_for  # noqa: E402


def grab(widget, name: str) -> None:
    """Save the docked widget as it is drawn (its whole height) and print its messages."""
    settle(0.5)
    out = DOCS / name
    widget.native.widget().grab().save(str(out))  # the controls, not the scroll area's view
    texts = [widget._status.value, widget._folder.status.value, widget._finetune.status.value]
    print(f"wrote {out} ({widget.native.width()} px wide):", *texts, sep="\n  ")


def finetune_states(widget) -> None:
    """Fine-tune on the sample's labels as they are: grab it running, then finished."""
    controls = widget._finetune
    controls.steps.value = 30

    def ask(text: str) -> bool:  # the dialog, drawn and grabbed instead of waiting for a click
        box = controls.question_box(text)
        box.show()
        settle(0.5)
        box.grab().save(str(DOCS / "widget_finetune_ask.png"))
        box.close()
        print(f"wrote {DOCS / 'widget_finetune_ask.png'}:", text)
        return False

    controls.ask_keep_worse = ask
    controls.run()
    wait_for(lambda: not controls.running or controls.progress.value >= 10)
    grab(widget, "widget_finetune_running.png")
    wait_for(lambda: not controls.running, timeout=900)
    grab(widget, "widget_finetune_done.png")


def folder_of_images(root: Path) -> Path:
    """Three synthetic images and a file that is not an image."""
    folder = root / "plate_A"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"well_{i + 1}.tif", synthetic_nuclei((256, 256), seed=i)[0])
    (folder / "notes.tif").write_bytes(b"not an image")
    return folder


def main() -> None:
    """Open napari with the widget docked, run it in each state, grab each one."""
    viewer = napari.Viewer(title="napari-unet-nuclei")
    viewer.window.resize(1500, 1000)
    viewer.open_sample(PLUGIN, "synthetic_nuclei_2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    grab(widget, "widget_idle.png")
    widget.run()
    wait_for(lambda: not widget._session.running)
    grab(widget, "widget_done.png")
    finetune_states(widget)
    with tempfile.TemporaryDirectory() as tmp:
        folder = folder_of_images(Path(tmp))
        widget._folder.choose = lambda: (folder, Path(tmp) / "plate_A_nuclei")
        widget._folder.run()
        wait_for(lambda: widget._folder.worker is None)
        grab(widget, "widget_folder.png")
    viewer.layers.clear()
    movie = synthetic_movie(frames=30, size=(256, 256), nuclei=16, divisions=3)
    viewer.add_image(image_of(movie.labels), name="time-lapse")
    widget._tracks.follow.value = True
    widget.run()
    wait_for(lambda: not widget._session.running)
    viewer.dims.set_current_step(0, 20)
    viewer.reset_view()
    grab(widget, "widget_tracks_dock.png")
    settle()
    viewer.screenshot(str(DOCS / "widget_tracks.png"), canvas_only=False)
    print(f"wrote {DOCS / 'widget_tracks.png'}")
    viewer.close()
    USER_DATA.cleanup()


if __name__ == "__main__":
    main()
