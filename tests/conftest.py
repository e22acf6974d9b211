"""Shared fixtures: tiny random U-Nets and synthetic images, made on the fly; bad disks."""

from __future__ import annotations

import errno
import io
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from napari_unet_nuclei._model import UNet, UNetConfig, save_weights
from napari_unet_nuclei._normalize import normalize_image
from napari_unet_nuclei._sample_data import synthetic_nuclei

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dsb2018_train"


@pytest.fixture(autouse=True)
def _no_torch_dynamo_here():
    """No test may import ``torch._dynamo`` into this process (optimizers do: train elsewhere).

    With torch's CUDA build it imports triton, which crashes a process holding napari's Qt
    OpenGL context, as this one does once a widget test has run.
    """
    before = "torch._dynamo" in sys.modules
    yield
    assert before or "torch._dynamo" not in sys.modules, (
        "this test imported torch._dynamo into the pytest process: run it in a subprocess"
    )


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random depth-2 U-Net (stride 4, receptive field < the default halo): the test model.

    Untrained, but its batch-norm statistics are those of a few synthetic images (one pass in
    train mode, no optimiser): with the initial statistics every layer shrinks the signal and
    the maps are flat (foreground 0.423 everywhere, no labels). So calibrated, the maps follow
    the image and give a few dozen deterministic, nucleus-sized labels on a 256² synthetic
    image: noise-ish as nuclei, but enough for paths to be compared label by label.
    """
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=4, depth=2))
    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None  # running statistics: the plain mean over the pass
    images = [normalize_image(synthetic_nuclei((128, 128), seed=s)[0]) for s in range(4)]
    with torch.no_grad():
        model.train()(torch.from_numpy(np.stack(images)[:, None]))
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_weights(model.eval(), path, meta={"diameter": 16.0})
    return str(path)


@pytest.fixture
def routes(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The labels ``NucleusModel.segment`` returned, in order (``.labels``).

    The lower routes to labels (``NucleusModel.predict``, ``label_blocks``, ``label_region``,
    ``labels_from_maps``) raise when called outside ``segment``: a front that picks a path
    itself fails.
    """
    from napari_unet_nuclei import NucleusModel, _postprocess

    spy = SimpleNamespace(labels=[], depth=0)
    real_segment = NucleusModel.segment

    def segment(self, image, **options):
        spy.depth += 1
        try:
            result = real_segment(self, image, **options)
        finally:
            spy.depth -= 1
        spy.labels.append(np.asarray(result.labels))
        return result

    def inside_only(name, real):
        def guarded(*args, **kwargs):
            if spy.depth == 0:
                raise AssertionError(f"{name} called outside NucleusModel.segment")
            return real(*args, **kwargs)

        return guarded

    monkeypatch.setattr(NucleusModel, "segment", segment)
    for name in ("predict", "label_blocks", "label_region"):
        monkeypatch.setattr(NucleusModel, name, inside_only(name, getattr(NucleusModel, name)))
    guarded = inside_only("labels_from_maps", _postprocess.labels_from_maps)
    for name, module in list(sys.modules.items()):  # wherever the package imported it
        if name.startswith("napari_unet_nuclei") and hasattr(module, "labels_from_maps"):
            monkeypatch.setattr(module, "labels_from_maps", guarded)
    return spy


@pytest.fixture(scope="session")
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    """A 256x256 uint16 synthetic image and its labels."""
    return synthetic_nuclei((256, 256), seed=7)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The DSB2018 folder beside the project; skips when it is absent."""
    if not (DATA_DIR / "index.tsv").is_file():
        pytest.skip(f"DSB2018 data not found at {DATA_DIR} (needs ../shared/data)")
    return DATA_DIR


@pytest.fixture(scope="session")
def read_only_dir() -> Path:
    """A folder that refuses new files even to root (sysfs, procfs); skips where none does."""
    for folder in map(Path, ("/sys", "/proc")):
        try:
            fd, probe = tempfile.mkstemp(dir=folder)
        except OSError:
            return folder
        os.close(fd)
        os.remove(probe)
    pytest.skip(
        "no read-only folder here: /sys and /proc accept new files (tests run as root, "
        "so chmod cannot make one)"
    )


class Disk:
    """A disk with ``room`` bytes free, shared by every file written to it."""

    def __init__(self, room: int) -> None:
        self.room = room


class NearlyFullFile(io.BufferedWriter):
    """A new file on ``disk``: bytes past its free room raise ENOSPC, as a full disk does."""

    def __init__(self, path: Path, disk: Disk) -> None:
        super().__init__(io.FileIO(path, "w"))
        self.disk = disk

    def fileno(self) -> int:
        raise io.UnsupportedOperation("every byte goes through write()")  # numpy tofile too

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        n = min(len(data), self.disk.room)
        self.disk.room -= n
        super().write(data[:n])
        if n < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return n


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch):
    """``full_disk(room)``: from then on the writer's files share ``room`` free bytes."""
    from napari_unet_nuclei import _writer

    def fill(room: int = 0) -> Disk:
        disk = Disk(room)
        monkeypatch.setattr(_writer, "_open_new", lambda path: NearlyFullFile(path, disk))
        return disk

    return fill


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is loaded by now (torch, napari, Qt: millions of objects) lives for the session:
    out of the garbage collector's passes, which napari's viewer fixture runs after every
    widget test (about 0.1 s each with them, a few ms without)."""
    import gc

    gc.collect()
    gc.freeze()
