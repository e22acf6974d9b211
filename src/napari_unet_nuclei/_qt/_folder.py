"""Segment a folder…: every image of a folder with the settings on screen, in the background.

The run is the CLI's ``segment`` (``batch.folder.run_batch``): the same output names, the
same checks (never over an input or a file that is not ours; a new folder by default), the
same label writer. Each image's measurements CSV is written beside its labels, from the
label file as written. Cancel stops after the image in progress; nothing is half-written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from magicgui.widgets import CheckBox, ProgressBar, PushButton
from napari.qt.threading import FunctionWorker, create_worker
from qtpy.QtWidgets import QFileDialog

from .._measure import measure_stack
from .._outputs import check_output, check_output_folder, free_path, same_path, tracks_path
from .._writer import measurements_path, write_csv
from ..batch.file_job import FileOptions, Outcome, read_input
from ._fit import StatusLine
from ._run import ProgressRelay, RunCancelled

Chooser = Callable[[], "tuple[Path, Path] | None"]  # (image folder, output folder) or None


@dataclass
class FolderReport:
    """What a folder run did: images written, nuclei, one line per failure, cancelled."""

    total: int
    output: Path
    images: int = 0
    nuclei: int = 0
    failures: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0


def one_line(exc: BaseException) -> str:
    """An error in one line: its message, with its type when that says more."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text and isinstance(exc, (ValueError, OSError)):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def folder_options(settings: dict, track: bool) -> FileOptions:
    """The ``FileOptions`` of the widget's ``NucleusModel.segment`` keyword arguments."""
    from .._settings import Settings

    rest = {k: v for k, v in settings.items() if k not in ("device", "weights")}
    return FileOptions(settings["device"], settings["weights"], Settings.of(**rest), track=track)


def default_output(folder: Path) -> Path:
    """A new folder beside ``folder`` for its labels: ``<name>_nuclei`` (or -2, -3...)."""
    return free_path(folder.parent / f"{folder.name}_nuclei")


def plan_folder(
    folder: Path, output: Path, track: bool = False
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(input, label file) per image of ``folder``, and the problems found; all checked.

    With ``track``, the lineage files of time-lapses are checked too.

    Raises ValueError (``UnsafeOutputError``) when the output could lose data.
    """
    from .._io import find_images, output_names

    files, problems = find_images([folder])
    if same_path(folder, output):
        raise ValueError("the output folder is the image folder: choose a new folder")
    check_output_folder(output)
    names, _notes = output_names(files)
    targets = [check_output(output / name, files) for name in names]
    for target in targets:
        check_output(measurements_path(target), files)
        if track:
            check_output(tracks_path(target), files)
    return list(zip(files, targets, strict=True)), problems


def write_measurements(done: Outcome, options: FileOptions) -> Path:
    """The CSV of a written label file, measured on the image it was segmented from."""
    import tifffile

    from .._io import image_2d
    from .._stack import canonical_view

    labels = tifffile.imread(done.target)
    arr, axes = read_input(done.source, options)
    image = (
        image_2d(arr, axes) if len(done.axes) == 2 else canonical_view(arr, axes, options.channel)
    )
    table = measure_stack(labels, np.asarray(image), parents=done.parents)
    sheet = check_output(measurements_path(done.target), [done.source])
    return write_csv(sheet, table)


def run_folder(
    jobs: list[tuple[Path, Path]],
    options: FileOptions,
    report: FolderReport,
    cancel: threading.Event,
    progress: Callable[[int, int], None],
) -> FolderReport:
    """In the worker: segment and write every job (the CLI's pipeline), then its CSV."""
    from ..batch.folder import run_batch

    t0 = time.perf_counter()

    def record(done: Outcome) -> None:
        if done.error is None:
            try:
                write_measurements(done, options)
                report.images += 1
                report.nuclei += done.nuclei
            except Exception as exc:  # this image's CSV: reported, the labels stay
                report.failures.append(f"{done.source.name}: measurements: {one_line(exc)}")
        else:
            why = one_line(done.error).replace(f"{done.source}: ", "")  # the name says which
            report.failures.append(f"{done.source.name}: {why}")
        progress(done.index + 1, len(jobs))
        if cancel.is_set():
            raise RunCancelled

    try:
        run_batch(jobs, options, record)
    except RunCancelled:
        report.cancelled = True
    report.seconds = time.perf_counter() - t0
    return report


def summary_text(report: FolderReport) -> str:
    """The folder section's status: images, nuclei, where, and one line per failure."""
    head = "Cancelled: " if report.cancelled else ""
    lines = [
        f"{head}{report.images} of {report.total} images segmented, {report.nuclei} nuclei, "
        f"in {report.seconds:.0f} s → {report.output.name}"
    ]
    lines += [f"Failed: {line}" for line in report.failures]
    return "\n".join(lines)


def ask_folders(parent: object) -> tuple[Path, Path] | None:
    """Ask for the image folder, then a new output folder (``<name>_nuclei`` offered)."""
    folder = QFileDialog.getExistingDirectory(parent, "Folder of images to segment")
    if not folder:
        return None
    suggested = default_output(Path(folder))
    output, _ = QFileDialog.getSaveFileName(
        parent,
        "New folder for the labels and measurements",
        str(suggested),
        options=QFileDialog.Option.DontConfirmOverwrite,
    )
    return (Path(folder), Path(output)) if output else None


class FolderControls:
    """Segment a folder…, its Cancel, an images progress bar and a summary line.

    ``settings()`` gives the ``NucleusModel.segment`` keyword arguments of the controls on screen,
    ``track`` whether to follow nuclei over time; ``choose`` asks for the folders (replace
    it to script the widget: tests).
    """

    def __init__(
        self, settings: Callable[[], dict], track: CheckBox, parent: object = None
    ) -> None:
        self._options = lambda: folder_options(settings(), bool(track.value))
        self.choose: Chooser = lambda: ask_folders(parent)
        self.start = PushButton(text="Segment a folder…")
        self.cancel = PushButton(text="Cancel folder", enabled=False)
        self.progress = ProgressBar(label="Images", min=0, max=1, value=0, visible=False)
        self.status = StatusLine("Segment every image of a folder with these settings.")
        self.widgets = [self.start, self.cancel, self.progress, self.status]
        self.worker: FunctionWorker | None = None
        self._stop = threading.Event()
        self._relay = ProgressRelay()
        self._relay.advanced.connect(self._on_progress)
        self.start.clicked.connect(self.run)
        self.cancel.clicked.connect(self.stop)
        self.closed = False  # the dock is gone: the run is cancelled, nothing is shown
        self.status.native.destroyed.connect(self._close)

    def _close(self, *_args: object) -> None:
        self.closed = True
        self._stop.set()

    def run(self) -> FunctionWorker | None:
        """Ask for the folders, check the outputs, start the worker (None if not started)."""
        if self.worker is not None:
            return None
        chosen = self.choose()
        if not chosen:
            return None
        folder, output = chosen
        try:
            options = self._options()
            jobs, problems = plan_folder(folder, output, options.track)
        except (ValueError, OSError) as exc:
            self.status.value = f"Not started: {one_line(exc)}"
            return None
        if not jobs:
            self.status.value = f"Not started: {'; '.join(problems) or 'no images'}"
            return None
        output.mkdir(parents=True, exist_ok=True)
        return self._start(jobs, options, FolderReport(len(jobs), output))

    def _start(self, jobs: list, options: FileOptions, report: FolderReport) -> FunctionWorker:
        self._stop = threading.Event()
        worker = create_worker(
            run_folder, jobs, options, report, self._stop, self._relay.advanced.emit
        )
        worker.returned.connect(self._done)
        worker.finished.connect(self._finished)
        self.worker = worker
        self._set_running(True)
        self.progress.max, self.progress.value = len(jobs), 0
        self.status.value = f"Segmenting {len(jobs)} images → {report.output}…"
        worker.start()
        return worker

    def stop(self) -> None:
        """Cancel: the image in progress ends unwritten; written files stay whole."""
        if self.worker is not None:
            self._stop.set()
            self.status.value = "Cancelling after the image in progress…"

    def _done(self, report: FolderReport) -> None:
        if not self.closed:
            self.status.value = summary_text(report)
            self.status.native.setToolTip(f"{self.status.value}\n\nWritten to {report.output}")

    def _finished(self) -> None:
        self.worker = None
        if not self.closed:
            self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.start.enabled, self.cancel.enabled = not running, running
        self.progress.visible = running or self.progress.value > 0

    def _on_progress(self, done: int, total: int) -> None:
        if self.closed:
            return
        self.progress.max, self.progress.value = max(total, 1), min(done, total)
