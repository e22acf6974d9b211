"""The one path-safety helper every command writes through (issue 10)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet_nuclei._outputs import (
    UnsafeOutputError,
    atomic_path,
    check_output,
    is_ours,
    same_path,
)


def test_same_path_sees_through_links_and_dots(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"x")
    (tmp_path / "link.tif").symlink_to(tmp_path / "a.tif")
    (tmp_path / "sub").mkdir()
    assert same_path(tmp_path / "link.tif", tmp_path / "sub" / ".." / "a.tif")
    assert not same_path(tmp_path / "a.tif", tmp_path / "b.tif")


def test_outputs_over_inputs_are_refused(tmp_path):
    (tmp_path / "in.zarr").mkdir()
    with pytest.raises(UnsafeOutputError, match="would replace the input"):
        check_output(tmp_path / "in.zarr" / "labels.zarr", [tmp_path / "in.zarr"])
    with pytest.raises(UnsafeOutputError, match="would replace the input"):
        check_output(tmp_path / "in.zarr", [tmp_path / "in.zarr" / "0"])
    assert check_output(tmp_path / "new.tif", [tmp_path / "in.zarr"]) == tmp_path / "new.tif"


def test_only_our_files_are_replaced_and_only_when_asked(tmp_path):
    ours, theirs = tmp_path / "ours.tif", tmp_path / "theirs.tif"
    tifffile.imwrite(ours, np.zeros((4, 4), np.uint16), software="napari-unet-nuclei")
    tifffile.imwrite(theirs, np.zeros((4, 4), np.uint16))
    assert is_ours(ours) and not is_ours(theirs)
    with pytest.raises(UnsafeOutputError, match="--overwrite"):
        check_output(ours)
    assert check_output(ours, overwrite=True) == ours
    with pytest.raises(UnsafeOutputError, match="not written by"):
        check_output(theirs, overwrite=True)


def _fill(tmp, kind: str, text: str) -> None:
    """A file, or a store (folder) holding one file, like a TIFF or a zarr output."""
    if kind == "file":
        tmp.write_text(text)
    else:
        tmp.mkdir(exist_ok=True)  # atomic_path made it, empty
        (tmp / "data").write_text(text)


def _read(target, kind: str) -> str:
    return target.read_text() if kind == "file" else (target / "data").read_text()


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_atomic_path_keeps_the_old_output_after_a_failure(tmp_path, kind):
    target = tmp_path / ("out.tif" if kind == "file" else "out.zarr")
    with atomic_path(target) as tmp:
        _fill(tmp, kind, "old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        _fill(tmp, kind, "half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert _read(target, kind) == "old"
    with atomic_path(target) as tmp:  # a finished run replaces it whole
        _fill(tmp, kind, "new")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert _read(target, kind) == "new"
