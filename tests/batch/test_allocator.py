"""glibc malloc settings for batch work (``_allocator``)."""

import subprocess
import sys

import pytest

from napari_unet_nuclei.batch import allocator as _allocator
from napari_unet_nuclei.cli import app as cli


@pytest.mark.slow  # a child process: seconds
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_the_settings_take_on_linux():
    # in a child process: the settings last for the process, not for this test
    code = "from napari_unet_nuclei.batch.allocator import keep_freed_memory as k; print(k(), k())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]  # and a second call is harmless


def test_the_segment_command_applies_them(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(_allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    missing = tmp_path / "none.tif"
    assert cli.main(["segment", str(missing), "-o", str(tmp_path / "out")]) == 1
    assert calls == [1]
