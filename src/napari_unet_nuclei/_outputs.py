"""Path safety for every output: never over an input, never over what is not ours, atomic.

Each command asks ``check_output`` before it writes, then writes through ``atomic_path``
(or ``_writer``'s file-handle version of it), so the rules live in one place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SOFTWARE = "napari-unet-nuclei"  # the TIFF software tag and zarr attribute that mark our files
ZARR_MARK = "napari_unet_nuclei"
TRAINED_WEIGHTS = "unet_nuclei_trained.pt"  # train's default output, in the current folder


class UnsafeOutputError(ValueError):
    """Writing there would replace an input or something we did not create."""


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(path)).resolve()


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file or folder (links and ``..`` resolved)."""
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when ``path`` is ``folder`` or lies somewhere under it."""
    inner, outer = _resolved(path), _resolved(folder)
    return inner == outer or outer in inner.parents or same_path(path, folder)


def check_not_input(target: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse a target that is an input, lies inside an input store (folder) or holds one."""
    for item in inputs:
        inside = is_inside(target, item) if Path(item).is_dir() else same_path(target, item)
        if inside or (Path(target).is_dir() and is_inside(item, target)):
            raise UnsafeOutputError(
                f"output {target} would replace the input {item}; choose another output name"
            )


def is_ours(path: str | os.PathLike) -> bool:
    """True for a file or store this program wrote (TIFF software tag, zarr attribute...)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff") and path.is_file():
            import tifffile

            with tifffile.TiffFile(path) as tif:
                return tif.pages[0].software == SOFTWARE
        if path.is_dir():
            import zarr

            return ZARR_MARK in zarr.open(str(path), mode="r").attrs
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r")
            return arr.ndim == 2 and arr.dtype == np.uint32
        if suffix == ".pt":  # our weights format (_model.save_weights), read without pickles
            import torch

            blob = torch.load(path, map_location="cpu", weights_only=True)
            return isinstance(blob, dict) and {"config", "state_dict"} <= blob.keys()
    except Exception:  # unreadable: not ours
        return False
    return False


def check_replaceable(target: str | os.PathLike, overwrite: bool = False) -> None:
    """An existing target is replaced only when it is ours and ``overwrite`` was asked for."""
    target = Path(target)
    if not (target.exists() or target.is_symlink()):
        return
    if not is_ours(target) or target.is_symlink():
        raise UnsafeOutputError(
            f"{target} exists and was not written by {SOFTWARE}: it is "
            "never replaced; move it away or choose another output name"
        )
    if not overwrite:
        raise UnsafeOutputError(
            f"{target} exists (an earlier output); pass --overwrite to "
            "replace it, or choose another output name"
        )


def check_output(
    target: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), overwrite: bool = False
) -> Path:
    """All checks before writing ``target``; returns it as a Path."""
    check_not_input(target, inputs)
    check_replaceable(target, overwrite)
    return Path(target)


def check_new_file(target: str | os.PathLike, action: str) -> Path:
    """For outputs that are never replaced (models, packages): ``target`` must not exist."""
    target = Path(target)
    if target.exists() or target.is_symlink():
        raise UnsafeOutputError(
            f"{target} exists; give a new file name ({action} never replaces a file)"
        )
    return target


def check_output_folder(folder: str | os.PathLike) -> None:
    """Files go into a new or empty folder, or one holding only our outputs (and hidden files)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    foreign = [
        p.name for p in sorted(folder.iterdir()) if not p.name.startswith(".") and not is_ours(p)
    ]
    if foreign:
        raise UnsafeOutputError(
            f"output folder {folder} holds files not written by {SOFTWARE} "
            f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
            "; choose a new or empty folder"
        )


def free_path(path: str | os.PathLike) -> Path:
    """``path`` itself if it does not exist, else ``stem-2.ext``, ``stem-3.ext``, ..."""
    target, n = Path(path), 2
    while target.exists():
        target = Path(path).with_name(f"{Path(path).stem}-{n}{Path(path).suffix}")
        n += 1
    return target


def check_training_paths(
    output: str | None,
    run_dir: str,
    inputs: Iterable[str | os.PathLike],
    protected: Iterable[str | os.PathLike],
    overwrite: bool = False,
) -> Path:
    """Where ``train`` may write: never inside a ``protected`` folder (the package, weights/).

    Without ``output``: a new ``TRAINED_WEIGHTS`` file in the current folder. Nothing may
    replace one of the ``inputs`` (the initial weights, what is read from the data folder).
    """
    target = Path(output) if output else free_path(TRAINED_WEIGHTS)
    protected = list(protected)
    for path, what in ((target, "--output"), (Path(run_dir), "--run-dir")):
        check_outside(path, protected, what)
    check_run_dir(Path(run_dir))
    return check_output(target, inputs, overwrite)


def check_outside(
    path: str | os.PathLike, protected: Iterable[str | os.PathLike], what: str
) -> None:
    """``path`` must not lie inside a ``protected`` folder (the package, its weights/)."""
    if any(is_inside(path, p) for p in protected):
        raise UnsafeOutputError(
            f"{what} {path} lies inside the installed package or its "
            "weights/ folder; choose a path elsewhere"
        )


def check_run_dir(run_dir: Path) -> None:
    """Checkpoints go to a new or empty folder, or one of an earlier run (to resume)."""
    if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / "checkpoint.pt").is_file():
        raise UnsafeOutputError(
            f"--run-dir {run_dir} holds other files and no checkpoint.pt of "
            "an earlier run; choose a new or empty folder"
        )


def temp_beside(target: Path) -> Path:
    """A new, unused name in the target's folder (hidden, ``.partial``), not yet created."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".partial", dir=target.parent)
    os.close(fd)
    os.remove(name)
    return Path(name)


def remove_ours(path: Path) -> None:
    """Remove a file or folder this program just created (a temporary), if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def replace_with(tmp: Path, target: Path) -> None:
    """Rename the finished ``tmp`` onto ``target``; an old store of ours is removed after."""
    if not target.is_dir():
        os.replace(tmp, target)
        return
    old = temp_beside(target)
    os.replace(target, old)  # checked to be ours before the run started
    os.replace(tmp, target)
    remove_ours(old)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it becomes ``target`` only on success.

    On any error or interrupt the temporary is removed and ``target`` keeps its content.
    """
    target = Path(target)
    tmp = temp_beside(target)
    try:
        yield tmp
        replace_with(tmp, target)
    finally:
        remove_ours(tmp)
