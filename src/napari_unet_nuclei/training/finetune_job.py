"""``finetune()`` in a separate Python process, for the widget.

napari stays responsive, a crash in training cannot take napari down, and nothing that
training imports (torch's compiler stack among them) is loaded into napari's process.
The images go to the child as .npy files in a scratch folder; the child reports one JSON
object per line on stdout: ``progress`` (step, steps, loss, seconds_left), then ``done`` or
``error``. A model that scored below the base stays in the scratch folder (``done`` with
``candidate``) until the parent keeps it (``keep_candidate``) or drops it (``discard``).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class FinetuneJob:
    """One fine-tuning run in a child process; poll ``events()``, stop with ``cancel()``."""

    def __init__(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        weights: str = "general",
        steps: int | None = None,
        device: str = "auto",
        output: str | Path | None = None,
        settings: dict | None = None,
    ) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="nuclei-finetune-")
        folder = Path(self._scratch.name)
        for i, (image, lab) in enumerate(zip(images, labels, strict=True)):
            np.save(folder / f"image{i}.npy", np.asarray(image))
            np.save(folder / f"labels{i}.npy", np.asarray(lab))
        spec = {
            "pairs": len(images),
            "weights": weights,
            "steps": steps,
            "device": device,
            "output": None if output is None else str(output),
            "settings": settings or {},
        }
        self.candidate: Path | None = None  # a worse model waiting for the user's answer
        (folder / "job.json").write_text(json.dumps(spec))
        self._events: queue.Queue[dict] = queue.Queue()
        self._stderr: list[str] = []
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=self._collect_stderr, daemon=True).start()

    def _read(self) -> None:
        finished = False
        for line in self._proc.stdout or ():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            finished |= event.get("event") in ("done", "error")
            if event.get("candidate"):
                self.candidate = Path(event["candidate"])
            self._events.put(event)
        code = self._proc.wait()
        if not finished:
            tail = " ".join(self._stderr[-1:]).strip() or f"exit code {code}"
            self._events.put({"event": "error", "message": f"training process ended: {tail}"})
        if self.candidate is None:
            self._scratch.cleanup()

    def keep_candidate(self, path: str | Path) -> Path:
        """Move the worse model the user chose to keep to ``path`` (never over a file)."""
        if self.candidate is None or not self.candidate.is_file():
            raise FileNotFoundError("no fine-tuned model is waiting to be kept")
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} exists: fine-tuning never replaces a file")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.candidate), path)
        self.discard()
        return path

    def discard(self) -> None:
        """Drop the waiting model (if any) and the scratch folder."""
        self.candidate = None
        self._scratch.cleanup()

    def _collect_stderr(self) -> None:
        for line in self._proc.stderr or ():
            if line.strip():
                self._stderr = [*self._stderr[-20:], line.rstrip()]

    def events(self) -> list[dict]:
        """The events reported since the last call (progress, then done or error)."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    @property
    def running(self) -> bool:
        """True until the child has exited and every event is read."""
        return self._reader.is_alive()

    def cancel(self, timeout: float = 10.0) -> None:
        """Stop the child; no model is written by a cancelled run."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._reader.join(timeout)
        if self.candidate is not None:
            self.discard()


def _emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def _progress(step: int, steps: int, loss: float, seconds_left: float) -> None:
    _emit(event="progress", step=step, steps=steps, loss=loss, seconds_left=seconds_left)


def _main(folder: Path) -> int:
    from .finetune import default_output, finetune

    spec = json.loads((folder / "job.json").read_text())
    images = [np.load(folder / f"image{i}.npy") for i in range(spec["pairs"])]
    labels = [np.load(folder / f"labels{i}.npy") for i in range(spec["pairs"])]
    output = Path(spec["output"] or default_output(spec["weights"]))
    try:
        if output.exists():
            raise FileExistsError(f"{output} exists: choose a new file for the model")
        result = finetune(
            images,
            labels,
            spec["weights"],
            spec["steps"],
            spec["device"],
            folder / "candidate.pt",
            progress=_progress,
            keep_worse=True,
            settings=spec["settings"],
        )
        if not result.worse:
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(result.path), output)
    except (ValueError, OSError, RuntimeError) as exc:
        _emit(event="error", message=str(exc))
        return 1
    _emit(
        event="done",
        path=None if result.worse else str(output),
        candidate=str(result.path) if result.worse else None,
        worse=result.worse,
        base_score=result.base_score,
        score=result.score,
        steps=result.steps,
        seconds=result.seconds,
        images=result.images,
        nuclei=result.nuclei,
    )
    return 0


if __name__ == "__main__":
    sys.exit(_main(Path(sys.argv[1])))
