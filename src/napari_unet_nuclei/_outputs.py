"""Path safety for every output: never over an input, never over what is not ours, atomic.

Each command asks ``check_output`` before it writes; every writer then writes to a
temporary from ``temp_for`` (or ``atomic_path``) and ``publish``es it. The rules live here
alone: temporary names, what may be replaced at the final rename, the package folders
that are never written, the mode a new file gets, and the space a memory map needs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

SOFTWARE = "napari-unet-nuclei"  # the TIFF software tag, weights key and sidecar that mark ours
ZARR_MARK = "napari_unet_nuclei"
TRAINED_WEIGHTS = "unet_nuclei_trained.pt"  # train's default output, in the current folder
TRACKS_SUFFIX = "_tracks.csv"  # the lineage beside a tracked label file: <stem>_tracks.csv
# What ``publish`` may replace: nothing, an earlier output of ours, or any file the user
# chose to replace (a save dialog asked).
Replace = Literal["new", "ours", "any"]
_CHUNK = re.compile(r"\d+([./]\d+)*")  # zarr chunk keys (and their folders)
_ZARR_META = {".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"}
_LINKLESS = {errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


class UnsafeOutputError(ValueError):
    """Writing there would replace an input or something we did not create."""


class WriteError(OSError):
    """A file could not be written; ``filename`` is the file asked for, not a temporary."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


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


def mark_path(path: str | os.PathLike) -> Path:
    """The hidden sidecar that marks a file whose format has no field for it as ours."""
    path = Path(path)
    return path.with_name(f".{path.name}.{ZARR_MARK}.json")


def _stamp(path: Path) -> dict:
    info = path.stat()  # a rename or link keeps both; a rewrite of the file changes them
    return {"software": SOFTWARE, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _has_mark(path: Path) -> bool:
    try:
        return json.loads(mark_path(path).read_text(encoding="utf-8")) == _stamp(path)
    except (OSError, ValueError):
        return False


def foreign_entries(store: Path) -> list[str]:
    """What a zarr store holds that zarr did not write (a user's notes...), as relative paths."""
    found = []
    for path in sorted(store.rglob("*")):
        rel = path.relative_to(store).as_posix()
        zarr_name = _CHUNK.fullmatch(rel) or (path.is_file() and rel in _ZARR_META)
        if path.is_symlink() or not zarr_name:
            found.append(rel)
    return found


def tracks_path(labels_path: str | os.PathLike) -> Path:
    """Where the lineage of a tracked time-lapse's label file goes: ``<stem>_tracks.csv``."""
    path = Path(labels_path)
    return path.with_name(f"{path.stem}{TRACKS_SUFFIX}")


def _sidecar_marked(path: Path) -> bool:
    """Formats with no field for our mark (.npy, a lineage CSV): a sidecar marks them."""
    return path.suffix.lower() == ".npy" or path.name.endswith(TRACKS_SUFFIX)


def is_ours(path: str | os.PathLike) -> bool:
    """True for a file or store this program wrote (TIFF tag, zarr attribute, weights key...).

    A .npy or a lineage CSV has no field for it: its sidecar (``mark_path``) records its
    size and time, so an edit makes it not ours.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_symlink():
        return False
    if _sidecar_marked(path):
        return path.is_file() and _has_mark(path)
    try:
        if suffix in (".tif", ".tiff") and path.is_file():
            import tifffile

            with tifffile.TiffFile(path) as tif:
                return tif.pages[0].software == SOFTWARE
        if path.is_dir():
            import zarr

            return ZARR_MARK in zarr.open(str(path), mode="r").attrs
        if suffix == ".pt":  # our weights format (_model.save_weights), read without pickles
            import torch

            blob = torch.load(path, map_location="cpu", weights_only=True)
            return isinstance(blob, dict) and blob.get("software") == SOFTWARE
    except Exception:  # unreadable: not ours
        return False
    return False


def check_replaceable(target: str | os.PathLike, overwrite: bool = False) -> None:
    """An existing target is replaced only when it is ours and ``overwrite`` was asked for."""
    target = Path(target)
    if not (target.exists() or target.is_symlink()):
        return
    if not is_ours(target):
        raise UnsafeOutputError(
            f"{target} exists and was not written by {SOFTWARE}: it is "
            "never replaced; move it away or choose another output name"
        )
    foreign = foreign_entries(target) if target.is_dir() else []
    if foreign:
        raise UnsafeOutputError(
            f"{target} holds files {SOFTWARE} did not write ({', '.join(foreign[:3])}): "
            "move them out of it, or choose another output name"
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
    check_outside(target, package_folders(), "output")
    check_not_input(target, inputs)
    check_replaceable(target, overwrite)
    return Path(target)


def check_new_file(target: str | os.PathLike, action: str) -> Path:
    """For outputs that are never replaced (models, packages): ``target`` must not exist."""
    target = Path(target)
    check_outside(target, package_folders(), "output")
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


def package_folders() -> tuple[Path, Path]:
    """The installed package and its weights folder: nothing is ever written into them."""
    from importlib import resources

    return Path(__file__).parent, Path(str(resources.files(f"{__package__}.weights")))


def _umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_mode(folder: bool = False) -> int:
    """The mode of a new file (or folder) the user creates: 0666 (0777) less the umask."""
    return (0o777 if folder else 0o666) & ~_umask()


def _chmod(path: Path, mode: int) -> None:
    """Set ``path``'s mode where the file system keeps modes (some network disks do not)."""
    with contextlib.suppress(OSError):
        os.chmod(path, mode)


def temp_for(target: str | os.PathLike, folder: bool = False) -> Path:
    """A new, empty temporary file (or folder) beside ``target``: mkstemp's, no one else's."""
    target = Path(target)
    check_outside(target, package_folders(), "output")
    where = dict(prefix=f".{target.name}-", suffix=f".partial{target.suffix}", dir=target.parent)
    if folder:
        return Path(tempfile.mkdtemp(**where))
    fd, name = tempfile.mkstemp(**where)
    os.close(fd)
    return Path(name)


def remove_ours(path: Path) -> None:
    """Remove a temporary this program made (file or folder), if it is still there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _place(src: Path, dst: Path) -> bool:
    """Put ``src`` at ``dst`` only if nothing is there; False (nothing moved) when something is.

    A file is hard-linked (or renamed onto a placeholder made with O_EXCL where links do not
    work); a folder is renamed onto an empty folder made for it with mkdir.
    """
    if src.is_dir():
        try:
            os.mkdir(dst)
        except FileExistsError:
            return False
        try:
            _onto_own(src, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            raise
        return True
    try:
        os.link(src, dst)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _LINKLESS:
            raise
        try:
            os.close(os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        _onto_own(src, dst)
        return True
    os.unlink(src)
    return True


def _onto_own(src: Path, dst: Path) -> None:
    """Rename ``src`` onto ``dst``, an empty file or folder this program just made for it."""
    if not dst.is_dir():
        os.replace(src, dst)
        return
    try:
        os.rename(src, dst)  # POSIX renames a folder onto an empty one
    except OSError:
        if os.name != "nt":
            raise
        os.rmdir(dst)  # Windows does not: free the name first
        os.rename(src, dst)


def _appeared(target: Path) -> UnsafeOutputError:
    return UnsafeOutputError(
        f"{target} appeared while this output was written (another run, or a user's file): "
        "it was left as it is and this output was not saved; choose another output name"
    )


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    keys = ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def _take_aside(target: Path, replace: Replace, folder: bool) -> Path:
    """Move an existing ``target`` to a temporary name, once it is known to be ours to replace."""
    before = target.lstat()
    if stat.S_ISDIR(before.st_mode) != folder:
        code = errno.EISDIR if folder is False else errno.ENOTDIR
        raise WriteError(code, os.strerror(code), str(target))
    if replace == "new" or (replace == "ours" and not is_ours(target)):
        raise _appeared(target)
    aside = temp_for(target, folder)
    _onto_own(target, aside)
    ours = _same_file(before, aside.lstat()) and not (folder and foreign_entries(aside))
    if replace == "ours" and not ours:  # changed since it was checked: put it back
        _restore(aside, target)
        raise _appeared(target)
    return aside


def _restore(aside: Path, target: Path) -> None:
    """Put a file moved aside back; if its name was taken meanwhile it stays where it is."""
    if not _place(aside, target):
        raise UnsafeOutputError(f"{target} was taken meanwhile: the file it held is now {aside}")


def _mark(target: Path) -> None:
    """Record a .npy or a lineage CSV as ours in its sidecar (others carry their own mark)."""
    if not _sidecar_marked(target):
        return
    tmp = temp_for(mark_path(target))
    try:
        tmp.write_text(json.dumps(_stamp(target)), encoding="utf-8")
        publish(tmp, mark_path(target), "any")
    finally:
        remove_ours(tmp)


def publish(tmp: str | os.PathLike, target: str | os.PathLike, replace: Replace = "new") -> Path:
    """Move the finished ``tmp`` to ``target``, never over what is not ``replace``'s to replace.

    A free ``target`` is taken without replacing anything (``_place``). One that exists
    (checked before the run, or appeared since) is moved aside, re-checked there and put
    back unless ``replace`` allows it: "new" nothing, "ours" the very output of ours that
    was there (``is_ours``, unchanged since), "any" a file the user chose to replace. The
    new file gets the replaced file's mode, else the umask's, as any file the user makes.
    """
    tmp, target = Path(tmp), Path(target)
    _chmod(tmp, new_mode(tmp.is_dir()))
    if not _place(tmp, target):
        aside = _take_aside(target, replace, tmp.is_dir())
        try:
            _chmod(tmp, stat.S_IMODE(aside.lstat().st_mode))
            if not _place(tmp, target):
                raise _appeared(target)
        except BaseException:
            _restore(aside, target)
            raise
        remove_ours(aside)
    _mark(target)
    return target


@contextmanager
def atomic_path(
    target: str | os.PathLike, replace: Replace = "any", folder: bool | None = None
) -> Iterator[Path]:
    """Yield a new temporary (a folder for .zarr) beside ``target``, ``publish``ed on success.

    On any error or interrupt it is removed and ``target`` keeps its content.
    """
    target = Path(target)
    tmp = temp_for(target, target.suffix.lower() == ".zarr" if folder is None else folder)
    try:
        yield tmp
        publish(tmp, target, replace)
    finally:
        remove_ours(tmp)
