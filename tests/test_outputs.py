"""The one path-safety helper every command writes through (issue 10)."""

from __future__ import annotations

import os
import stat

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


# Issue 23 ("no data lost, round two"): the rename at the end, temporaries, marks, modes.
# The helpers are imported in each test so that the file still runs against older code.


def test_the_second_of_two_runs_racing_for_a_name_is_refused(tmp_path):
    """1: both checked the name free; the first to finish keeps it, whole."""
    from napari_unet_nuclei._outputs import publish, temp_for

    target = tmp_path / "x.tif"
    first, second = temp_for(target), temp_for(target)
    first.write_bytes(b"first run")
    second.write_bytes(b"second run")
    publish(first, target, "ours")
    with pytest.raises(UnsafeOutputError, match="appeared while"):
        publish(second, target, "new")
    assert target.read_bytes() == b"first run"
    assert sorted(p.name for p in tmp_path.iterdir()) == [second.name, "x.tif"]  # the caller's


@pytest.mark.parametrize("replace", ["new", "ours"])
def test_a_users_file_that_appears_before_the_rename_is_kept(tmp_path, replace):
    """2: a file made after the check (a user's) is never replaced, even with --overwrite."""
    from napari_unet_nuclei._outputs import atomic_path

    target = tmp_path / "b.tif"
    with (
        pytest.raises(UnsafeOutputError, match="appeared while"),
        atomic_path(target, replace) as tmp,
    ):
        tifffile.imwrite(tmp, np.ones((4, 4), np.uint16), software="napari-unet-nuclei")
        target.write_bytes(b"the user's b.tif")
    assert target.read_bytes() == b"the user's b.tif"
    assert [p.name for p in tmp_path.iterdir()] == ["b.tif"]


def test_an_output_of_ours_swapped_for_a_users_file_is_kept(tmp_path):
    """2: ours when checked, the user's at the rename: put back, not replaced."""
    from napari_unet_nuclei._outputs import atomic_path

    target = tmp_path / "b.tif"
    tifffile.imwrite(target, np.zeros((4, 4), np.uint16), software="napari-unet-nuclei")
    check_output(target, overwrite=True)
    with pytest.raises(UnsafeOutputError), atomic_path(target, "ours") as tmp:
        tmp.write_bytes(b"new labels")
        target.unlink()
        tifffile.imwrite(target, np.ones((4, 4), np.uint16))  # the user's, same name
    assert tifffile.imread(target).max() == 1 and not is_ours(target)
    assert [p.name for p in tmp_path.iterdir()] == ["b.tif"]


def test_a_temporary_never_takes_a_users_file(tmp_path):
    """3: temporaries come from mkstemp: a file named like one is never opened or removed."""
    from napari_unet_nuclei._outputs import atomic_path, temp_for

    target = tmp_path / "pkg.zip"
    decoys = [tmp_path / f".{target.name}.partial", tmp_path / f".{target.name}-x.partial.zip"]
    for decoy in decoys:
        decoy.write_bytes(b"user")
    made = {temp_for(target) for _ in range(20)}
    assert len(made) == 20 and not made & set(decoys)
    with atomic_path(target, "new") as tmp:
        tmp.write_bytes(b"zip")
    assert [d.read_bytes() for d in decoys] == [b"user", b"user"]


def test_a_users_npy_and_weights_are_not_ours(tmp_path):
    """4: a 2D uint32 .npy or a weights-format .pt is ours only with our mark."""
    import torch

    from napari_unet_nuclei._model import UNet, UNetConfig, save_weights
    from napari_unet_nuclei._outputs import atomic_path

    counts = tmp_path / "counts.npy"
    np.save(counts, np.arange(12, dtype=np.uint32).reshape(3, 4))
    model = UNet(UNetConfig(base=4, depth=2))
    theirs = tmp_path / "theirs.pt"
    torch.save({"config": {"base": 4, "depth": 2}, "state_dict": model.state_dict()}, theirs)
    assert not is_ours(counts) and not is_ours(theirs)
    with pytest.raises(UnsafeOutputError, match="not written by"):
        check_output(counts, overwrite=True)
    ours = tmp_path / "labels.npy"
    with atomic_path(ours, "new") as tmp:
        np.save(tmp, np.zeros((3, 4), np.uint32))
    save_weights(model, tmp_path / "mine.pt")
    assert is_ours(ours) and is_ours(tmp_path / "mine.pt")
    np.save(ours, np.ones((3, 5), np.uint32))  # the user wrote over it since
    assert not is_ours(ours)


def test_a_store_of_ours_holding_a_users_file_is_not_replaced(tmp_path):
    """4: --overwrite of our labels.zarr would take the NOTES.txt put inside with it."""
    import zarr

    store = tmp_path / "labels.zarr"
    arr = zarr.open_array(str(store), mode="w-", shape=(4, 4), dtype=np.uint32, zarr_format=2)
    arr.attrs["napari_unet_nuclei"] = {"labels": "nuclei"}
    arr[:] = 1
    check_output(store, overwrite=True)  # zarr's own files only: ours to replace
    (store / "NOTES.txt").write_text("my notes")
    with pytest.raises(UnsafeOutputError, match="NOTES.txt"):
        check_output(store, overwrite=True)


def test_nothing_is_written_into_the_package(tmp_path, monkeypatch):
    """5: one rule, in the helper every writer goes through."""
    from napari_unet_nuclei import _outputs

    package = tmp_path / "site-packages" / "napari_unet_nuclei"
    (package / "weights").mkdir(parents=True)
    folders = (package, package / "weights")
    monkeypatch.setattr(_outputs, "package_folders", lambda: folders, raising=False)
    for target in (package / "weights" / "mine.pt", package / "x.tif"):
        with pytest.raises(UnsafeOutputError, match="installed package"):
            check_output(target)
        with pytest.raises(UnsafeOutputError, match="installed package"):
            _outputs.temp_for(target)
    assert not any(p.is_file() for p in package.rglob("*"))


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, mask):
    """7: the mode of a file (or store) the user makes, not the temporary's 0600."""
    previous = os.umask(mask)
    try:
        with atomic_path(tmp_path / "a.tif") as tmp:
            tmp.write_bytes(b"labels")
        with atomic_path(tmp_path / "a.zarr") as tmp:
            tmp.mkdir(exist_ok=True)  # made by atomic_path
            (tmp / ".zattrs").write_text("{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.tif").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "a.zarr").stat().st_mode) == 0o777 & ~mask


def test_a_replaced_file_keeps_its_mode(tmp_path):
    """7: replacing an output keeps the mode its owner gave it."""
    target = tmp_path / "a.tif"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_lineage_csv_is_ours_until_it_is_edited(tmp_path):
    from napari_unet_nuclei._outputs import is_ours, tracks_path
    from napari_unet_nuclei._writer import write_lineage, write_tiff

    labels = np.zeros((2, 8, 8), np.uint16)
    labels[:, 2:4, 2:4] = 1
    target = write_tiff(tmp_path / "movie.tif", labels, axes="TYX")
    lineage = write_lineage(target, labels, {})
    assert lineage == tracks_path(target) == tmp_path / "movie_tracks.csv"
    assert is_ours(lineage)
    later = target.stat().st_mtime_ns + 10**9
    os.utime(lineage, ns=(later, later))  # edited after our run
    assert not is_ours(lineage)
    write_tiff(target, labels, axes="TYX")  # our labels rewritten later: still not ours
    assert not is_ours(lineage)
    (tmp_path / "notes_tracks.csv").write_text("a,b\n")  # no label file of ours beside it
    assert not is_ours(tmp_path / "notes_tracks.csv")
