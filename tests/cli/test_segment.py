"""``segment`` takes stacks: Z, time and channels from the file or ``--axes``/``--channel``.

These run the tiny test model on small synthetic images (the must-show of issue 13: a plane
of a stack segmented by ``segment`` equals that plane segmented alone).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.cli.app import main

SIDE = 256

WEIGHTS = ""  # the tiny test model (``tiny_weights``), set for every test below


@pytest.fixture(autouse=True)
def _tiny_model(tiny_weights, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "WEIGHTS", tiny_weights)


def _planes(n: int = 3, side: int = SIDE) -> np.ndarray:
    return np.stack([synthetic_nuclei((side, side), seed=20 + i)[0] for i in range(n)])


def _segment(*args: str) -> int:
    run = ["--device", "cpu", "--weights", WEIGHTS, "--parallel-files", "0"]
    return main(["segment", *map(str, args), *run])


def _without_offset(plane: np.ndarray) -> np.ndarray:
    """A plane of stack labels with its ids moved back to start at 1."""
    offset = int(plane[plane > 0].min()) - 1
    return np.where(plane > 0, plane - offset, 0).astype(plane.dtype)


@pytest.mark.parametrize("diameter", ["14", "auto"])
def test_a_plane_of_a_stack_equals_it_segmented_alone(tmp_path, capsys, diameter):
    stack = _planes()
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    (tmp_path / "alone").mkdir()
    # the middle plane: the stack's size and polarity are decided on it ("auto" reads each
    # plane's own nucleus size alone, which the tiny model reads differently plane by plane)
    tifffile.imwrite(tmp_path / "alone" / "plane1.tif", stack[1])
    assert _segment(tmp_path / "stack.tif", "-o", tmp_path / "out", "--diameter", diameter) == 0
    assert "stack.tif: 3 planes (ZYX)" in capsys.readouterr().out
    alone_args = [tmp_path / "alone" / "plane1.tif", "-o", tmp_path / "out2"]
    assert _segment(*alone_args, "--diameter", diameter) == 0
    with tifffile.TiffFile(tmp_path / "out" / "stack.tif") as tif:
        assert tif.series[0].axes == "ZYX"
        labels = tif.asarray()
    alone = tifffile.imread(tmp_path / "out2" / "plane1.tif")
    assert labels.shape == (3, SIDE, SIDE) and alone.max() > 20
    np.testing.assert_array_equal(_without_offset(labels[1]), alone)
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids[1:], np.arange(1, labels.max() + 1))


@pytest.mark.parametrize("kind", ["ome", "imagej"])
def test_time_lapse_axes_come_from_the_file(tmp_path, capsys, kind):
    movie = _planes(3, 128)
    name = "movie.ome.tif" if kind == "ome" else "movie.tif"
    extra = {"ome": True} if kind == "ome" else {"imagej": True}
    tifffile.imwrite(tmp_path / name, movie, metadata={"axes": "TYX"}, **extra)
    assert _segment(tmp_path / name, "-o", tmp_path / "out") == 0
    assert "3 planes (TYX)" in capsys.readouterr().out
    with tifffile.TiffFile(tmp_path / "out" / name) as tif:  # <stem>.tif: movie.ome.tif
        assert tif.series[0].axes == "TYX" and tif.series[0].shape == (3, 128, 128)


def _ambiguous(path: Path, planes: np.ndarray) -> None:
    """Pages without any axes: a 3D array whose first axis may be channels or planes."""
    tifffile.imwrite(path, planes, photometric="minisblack", metadata=None)


def test_unknown_axes_fail_that_file_only(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    planes = _planes(3, 128)
    _ambiguous(inputs / "a_stack.tif", planes)
    tifffile.imwrite(inputs / "b_image.tif", planes[0])
    assert _segment(inputs, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("[1/2] a_stack.tif: FAILED"))
    assert "--axes" in line and "(3, 128, 128)" in line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_image.tif"]
    out = tmp_path / "given"
    assert _segment(inputs / "a_stack.tif", "-o", out, "--axes", "zyx") == 0
    assert tifffile.imread(out / "a_stack.tif").shape == (3, 128, 128)


def test_axes_of_the_wrong_length_exit_2_before_reading(tmp_path, capsys):
    _ambiguous(tmp_path / "stack.tif", _planes(3, 64))
    assert _segment(tmp_path / "stack.tif", "-o", tmp_path / "out", "--axes", "TZYX") == 2
    assert "--axes TZYX names 4 axes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as stop:
        _segment(tmp_path / "stack.tif", "-o", tmp_path / "out", "--axes", "ZQX")
    assert stop.value.code == 2 and not (tmp_path / "out").exists()


def test_one_channel_of_a_multichannel_image(tmp_path, capsys):
    channels = np.stack([np.full((128, 128), 100, np.uint16), _planes(1, 128)[0]])
    tifffile.imwrite(tmp_path / "two.tif", channels, imagej=True, metadata={"axes": "CYX"})
    assert _segment(tmp_path / "two.tif", "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "2 channels" in err and "--channel" in err
    assert _segment(tmp_path / "two.tif", "-o", tmp_path / "o1", "--channel", "1") == 0
    tifffile.imwrite(tmp_path / "one.tif", channels[1])
    assert _segment(tmp_path / "one.tif", "-o", tmp_path / "o2") == 0
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "o1" / "two.tif"), tifffile.imread(tmp_path / "o2" / "one.tif")
    )
