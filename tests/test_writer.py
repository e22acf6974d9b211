"""Labels -> TIFF / PNG / CSV: read back identical, ImageJ-compatible, never partial."""

from __future__ import annotations

import csv
import errno
import os
import stat

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_unet_nuclei import _writer
from napari_unet_nuclei._measure import COLUMNS, measure_nuclei
from napari_unet_nuclei._writer import (
    WriteError,
    measurements_path,
    save_labels,
    write_csv,
    write_labels,
    write_png,
    write_tiff,
)


def _labels(dtype=np.uint16, n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros((64, 80), dtype)
    for value in range(1, n + 1):
        y, x = rng.integers(0, 60), rng.integers(0, 76)
        labels[y : y + 4, x : x + 4] = value
    return labels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_tiff_round_trip_is_an_imagej_plane(tmp_path, dtype):
    labels = _labels(dtype)
    path = write_tiff(tmp_path / "labels.tif", labels, scale=(0.5, 0.25), unit="um")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and len(tif.pages) == 1
        back = tif.asarray()
        assert tif.pages[0].tags["XResolution"].value == (4, 1)
        assert tif.imagej_metadata["unit"] == "um"
    assert np.array_equal(back, labels)
    assert back.dtype == (np.uint8 if dtype == np.uint8 else np.uint16)


def test_tiff_beyond_uint16_is_plain_uint32(tmp_path):
    labels = _labels(np.uint32)
    labels[0, 0] = 70_000
    path = write_tiff(tmp_path / "many.tif", labels)
    with tifffile.TiffFile(path) as tif:
        assert not tif.is_imagej
        assert tif.asarray().dtype == np.uint32
        assert np.array_equal(tif.asarray(), labels)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_png_round_trip(tmp_path, dtype):
    labels = _labels(dtype)
    labels[0, 0] = 255 if dtype == np.uint8 else 1000
    back = iio.imread(write_png(tmp_path / "labels.png", labels))
    assert np.array_equal(back, labels)


def test_png_refuses_too_many_labels(tmp_path):
    labels = np.full((4, 4), 70_000, np.uint32)
    with pytest.raises(ValueError, match="TIFF"):
        write_png(tmp_path / "x.png", labels)
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken(fh, *args, **kwargs):
        fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    (tmp_path / "old.tif").write_bytes(b"previous")
    with pytest.raises(OSError):
        write_tiff(tmp_path / "old.tif", _labels())
    assert [p.name for p in tmp_path.iterdir()] == ["old.tif"]
    assert (tmp_path / "old.tif").read_bytes() == b"previous"


def test_csv_columns_and_rows(tmp_path):
    labels = _labels(n=25)
    image = np.arange(labels.size, dtype=np.uint16).reshape(labels.shape)
    tif, table = save_labels(tmp_path / "cells.tif", labels, image, scale=(2.0, 2.0))
    assert table.name == "cells_measurements.csv"
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == len(np.unique(labels)) - 1
    first = rows[0]
    assert int(first["label"]) == 1
    assert float(first["area_scaled"]) == 4 * int(first["area_px"])


def test_save_never_overwrites_an_existing_csv(tmp_path):
    (tmp_path / "cells_measurements.csv").write_text("mine")
    paths = save_labels(tmp_path / "cells.png", _labels())
    assert (tmp_path / "cells_measurements.csv").read_text() == "mine"
    assert paths[1].name == "cells_measurements-2.csv"


def test_write_csv_of_empty_table_has_header_only(tmp_path):
    from napari_unet_nuclei._measure import empty_table

    path = write_csv(tmp_path / "empty.csv", empty_table())
    assert path.read_text().strip() == ",".join(COLUMNS)


@pytest.mark.parametrize("name", ["x.jpg", "x"])
def test_unknown_extension_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match=".tif or .png"):
        save_labels(tmp_path / name, _labels())


@pytest.mark.parametrize("name", ["out.tif", "out.tiff", "out.png"])
def test_npe2_writer_function(tmp_path, name):
    labels = _labels()
    [path] = write_labels(str(tmp_path / name), labels, {"scale": [1.0, 1.0], "name": "x"})
    back = tifffile.imread(path) if name != "out.png" else iio.imread(path)
    assert np.array_equal(back, labels)


def test_napari_save_selected_layers_uses_the_plugin(tmp_path):
    napari = pytest.importorskip("napari")
    import npe2

    npe2.PluginManager.instance().discover()  # a viewer does this; here there is none
    layer = napari.layers.Labels(_labels(np.int32), name="nuclei")
    [path] = napari.save_layers(str(tmp_path / "nuclei.tif"), [layer], plugin="napari-unet-nuclei")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert np.array_equal(tif.asarray(), layer.data)


def test_writer_module_imports_no_napari_or_qt():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(_writer))
    names = {
        a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    } | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(name.split(".")[0] in ("napari", "qtpy", "PyQt5", "magicgui") for name in names)


def test_stack_saves_as_one_tiff_plane_per_image_with_per_plane_csv(tmp_path):
    import tifffile

    labels = np.zeros((3, 20, 30), np.uint16)
    labels[0, 2:6, 2:6] = 1
    labels[2, 10:15, 10:20] = 5
    labels[2, 0:3, 0:3] = 6
    image = np.random.default_rng(0).random((3, 20, 30))
    saved = save_labels(tmp_path / "stack.tif", labels, image, scale=(2.0, 0.5, 0.5))
    back = tifffile.imread(saved[0])
    assert back.shape == (3, 20, 30) and np.array_equal(back, labels)
    rows = saved[1].read_text().strip().splitlines()
    assert rows[0].split(",")[-1] == "plane" and len(rows) == 1 + 3
    assert [r.split(",")[-1] for r in rows[1:]] == ["0", "2", "2"]
    with pytest.raises(ValueError, match="PNG holds one 2D image"):
        save_labels(tmp_path / "stack.png", labels)


@pytest.mark.parametrize("save", ["save_labels", "write_tiff"])
def test_ids_past_uint32_are_relabelled_never_wrapped(tmp_path, save):
    """Issue 10: ids above the uint32 range were written as zeros."""
    labels = np.zeros((20, 30), np.int64)
    labels[2:6, 2:6] = 2**33  # wraps to 0 in uint32
    labels[10:15, 10:15] = 2**40 + 7
    labels[16:19, 20:28] = 3
    if save == "save_labels":
        path, sheet = save_labels(tmp_path / "big_ids.tif", labels)
        rows = sheet.read_text().strip().splitlines()[1:]
        assert [row.split(",")[:2] for row in rows] == [["1", "24"], ["2", "16"], ["3", "25"]]
    else:
        path = write_tiff(tmp_path / "big_ids.tif", labels)
    back = tifffile.imread(path)
    assert np.array_equal(
        back, np.select([labels == 3, labels == 2**33, labels > 2**33], [1, 2, 3])
    )


# Saving where it cannot work: the error names the file asked for, no partial or temporary
# file is left, and a file that was to be replaced keeps its old content.


def _stripes() -> np.ndarray:
    labels = np.zeros((64, 80), np.uint16)
    for value in range(1, 30):
        labels[2 * value : 2 * value + 2, value : value + 40] = value
    return labels


WRITERS = {
    "tiff": lambda path: write_tiff(path, _stripes(), scale=(0.5, 0.5)),
    "png": lambda path: write_png(path.with_suffix(".png"), _stripes()),
    "csv": lambda path: write_csv(path.with_suffix(".csv"), measure_nuclei(_stripes())),
    "npe2": lambda path: write_labels(str(path), _stripes(), {"scale": [1.0, 1.0]}),
    "save_labels": lambda path: save_labels(path, _stripes(), np.ones((64, 80))),
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
    probe = write_tiff(tmp_path / "size" / "probe.tif", _stripes(), scale=(1.0, 1.0))
    return probe.stat().st_size


@pytest.mark.parametrize("fails", ["labels", "measurements"])
def test_full_disk_keeps_the_file_it_was_to_replace(tmp_path, full_disk, fails):
    (tmp_path / "size").mkdir()
    room = 0 if fails == "labels" else _bytes_of_labels_file(tmp_path) + 10
    old = tmp_path / "nuclei.tif"
    old.write_bytes(b"previous labels")
    full_disk(room)
    with pytest.raises(WriteError) as caught:
        save_labels(old, _stripes(), scale=(1.0, 1.0))
    failed = old if fails == "labels" else measurements_path(old)
    assert str(caught.value) == f"cannot write {failed}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nuclei.tif", "size"]
    assert old.read_bytes() == b"previous labels"  # neither file is renamed into place


def test_labels_that_cannot_be_renamed_into_place_leave_no_measurements(tmp_path):
    (tmp_path / "nuclei.tif").mkdir()  # a folder of that name: the rename fails at the end
    with pytest.raises(WriteError) as caught:
        save_labels(tmp_path / "nuclei.tif", _stripes())
    assert str(caught.value).startswith(f"cannot write {tmp_path / 'nuclei.tif'}: ")
    assert [p.name for p in tmp_path.iterdir()] == ["nuclei.tif"]
    assert not any((tmp_path / "nuclei.tif").iterdir())


@pytest.mark.parametrize("big", [False, True])
def test_a_stack_is_written_with_its_axes_in_imagej_order(tmp_path, big):
    from napari_unet_nuclei._outputs import is_ours

    labels = np.stack(
        [np.stack([_labels(np.uint32, seed=t + z) for t in range(3)]) for z in range(2)]
    )
    if big:
        labels[0, 0, 0, 0] = 70_000  # past uint16: a plain uint32 TIFF, axes in tifffile's metadata
    path = write_tiff(tmp_path / "stack.tif", labels, axes="ZTYX")
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "TZYX" and tif.is_imagej != big
        back = tif.asarray()
    assert np.array_equal(back, labels.transpose(1, 0, 2, 3)) and is_ours(path)
    with pytest.raises(ValueError, match="axes"):
        write_tiff(tmp_path / "bad.tif", labels, axes="ZYX")
    assert not (tmp_path / "bad.tif").exists()


def test_label_files_follow_the_umask(tmp_path):
    """Issue 23, 7: written 0600 (the temporary's mode), unreadable in a shared folder."""
    previous = os.umask(0o022)
    try:
        path = write_tiff(tmp_path / "a.tif", _stripes())
        saved = save_labels(tmp_path / "b.tif", _stripes())
    finally:
        os.umask(previous)
    for written in [path, *saved]:
        assert stat.S_IMODE(written.stat().st_mode) == 0o644, written


@pytest.mark.parametrize("replace", ["new", "ours"])
def test_a_file_that_appears_while_writing_is_kept(tmp_path, monkeypatch, replace):
    """Issue 23, 2: the batch's writes never replace a file made after its check."""
    target, real = tmp_path / "b.tif", _writer._open_new

    def user_saves_meanwhile(path):
        target.write_bytes(b"the user's b.tif")
        return real(path)

    monkeypatch.setattr(_writer, "_open_new", user_saves_meanwhile)
    with pytest.raises(ValueError, match="appeared while"):
        write_tiff(target, _stripes(), replace=replace)
    assert target.read_bytes() == b"the user's b.tif"
    assert [p.name for p in tmp_path.iterdir()] == ["b.tif"]
