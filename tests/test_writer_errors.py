"""Saving where it cannot work: a read-only location, a full disk, a missing folder.

The error names the file that was asked for; no partial or temporary file is left; a file
that was to be replaced keeps its old content.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest

from napari_unet_nuclei._measure import measure_nuclei
from napari_unet_nuclei._writer import (
    WriteError,
    measurements_path,
    save_labels,
    write_csv,
    write_labels,
    write_png,
    write_tiff,
)


def _labels() -> np.ndarray:
    labels = np.zeros((64, 80), np.uint16)
    for value in range(1, 30):
        labels[2 * value : 2 * value + 2, value : value + 40] = value
    return labels


WRITERS = {
    "tiff": lambda path: write_tiff(path, _labels(), scale=(0.5, 0.5)),
    "png": lambda path: write_png(path.with_suffix(".png"), _labels()),
    "csv": lambda path: write_csv(path.with_suffix(".csv"), measure_nuclei(_labels())),
    "npe2": lambda path: write_labels(str(path), _labels(), {"scale": [1.0, 1.0]}),
    "save_labels": lambda path: save_labels(path, _labels(), np.ones((64, 80))),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_read_only_location_names_the_file(read_only_dir, writer):
    target = read_only_dir / "nuclei.tif"
    with pytest.raises(WriteError) as caught:
        WRITERS[writer](target)
    assert caught.value.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT)
    assert str(caught.value).startswith(f"cannot write {read_only_dir}/nuclei.")
    assert ".nuclei-" not in str(caught.value)  # the file asked for, not the temporary
    assert not target.exists()


@pytest.mark.parametrize("writer", WRITERS)
def test_missing_folder_names_the_file(tmp_path, writer):
    target = tmp_path / "missing" / "nuclei.tif"
    with pytest.raises(WriteError, match="No such file or directory") as caught:
        WRITERS[writer](target)
    assert str(tmp_path / "missing" / "nuclei.") in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("room", [0, 100])
def test_full_disk_leaves_no_file_and_names_it(tmp_path, full_disk, writer, room):
    full_disk(room)
    with pytest.raises(WriteError, match="No space left on device") as caught:
        WRITERS[writer](tmp_path / "nuclei.tif")
    assert caught.value.errno == errno.ENOSPC
    assert str(tmp_path / "nuclei") in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def _bytes_of_labels_file(tmp_path) -> int:
    probe = write_tiff(tmp_path / "size" / "probe.tif", _labels(), scale=(1.0, 1.0))
    return probe.stat().st_size


@pytest.mark.parametrize("fails", ["labels", "measurements"])
def test_full_disk_keeps_the_file_it_was_to_replace(tmp_path, full_disk, fails):
    (tmp_path / "size").mkdir()
    room = 0 if fails == "labels" else _bytes_of_labels_file(tmp_path) + 10
    old = tmp_path / "nuclei.tif"
    old.write_bytes(b"previous labels")
    full_disk(room)
    with pytest.raises(WriteError) as caught:
        save_labels(old, _labels(), scale=(1.0, 1.0))
    failed = old if fails == "labels" else measurements_path(old)
    assert str(caught.value) == f"cannot write {failed}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nuclei.tif", "size"]
    assert old.read_bytes() == b"previous labels"  # neither file is renamed into place


def test_labels_that_cannot_be_renamed_into_place_leave_no_measurements(tmp_path):
    (tmp_path / "nuclei.tif").mkdir()  # a folder of that name: the rename fails at the end
    with pytest.raises(WriteError) as caught:
        save_labels(tmp_path / "nuclei.tif", _labels())
    assert str(caught.value).startswith(f"cannot write {tmp_path / 'nuclei.tif'}: ")
    assert [p.name for p in tmp_path.iterdir()] == ["nuclei.tif"]
    assert not any((tmp_path / "nuclei.tif").iterdir())
