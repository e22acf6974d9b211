"""The package, its API and its CLI import neither napari nor Qt (nor torch._dynamo)."""

from __future__ import annotations

import subprocess
import sys

import pytest

GUI_MODULES = ("napari", "magicgui", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy")

CODE = f"""
import sys, tempfile, pathlib
import napari_unet_nuclei
from napari_unet_nuclei import predict, segment_nuclei
from napari_unet_nuclei.cli.app import build_parser, main
from napari_unet_nuclei._sample_data import synthetic_nuclei

build_parser()
weights = sys.argv[1]
image, _ = synthetic_nuclei((96, 96), seed=3)
segment_nuclei(image, device="cpu", weights=weights)
predict(image, device="cpu", weights=weights).labels(0.5)
out = pathlib.Path(tempfile.mkdtemp())
assert main(["sample", str(out / "s.tif"), "--size", "96"]) == 0
assert main(["segment", str(out / "s.tif"), "-o", str(out / "labels"), "--weights", weights]) == 0
gui = sorted(m for m in sys.modules if m.split(".")[0] in {GUI_MODULES!r})
print("GUI:", gui)
print("DYNAMO:", "torch._dynamo" in sys.modules)
"""


@pytest.mark.slow  # a child process (or several): seconds each
def test_package_api_and_cli_need_no_napari_and_no_qt(tiny_weights):
    run = subprocess.run(
        [sys.executable, "-c", CODE, tiny_weights], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "GUI: []" in run.stdout
    assert "DYNAMO: False" in run.stdout  # the API is what the widget runs inside napari


def test_version_is_set():
    import napari_unet_nuclei

    assert napari_unet_nuclei.__version__[0].isdigit()
