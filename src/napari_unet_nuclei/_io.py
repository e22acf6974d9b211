"""Finding and reading user images, without napari (label files: see ``_writer``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def find_images(inputs: list[str | Path]) -> tuple[list[Path], list[str]]:
    """Image files named directly or found (non-recursively) in folders; plus problems."""
    files, problems = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(f"{item}: folder holds no TIFF, PNG or JPEG images")
            files.extend(found)
        elif item.exists():
            files.append(item)
        else:
            problems.append(f"{item}: no such file or folder")
    return files, problems


def read_image(path: str | Path) -> np.ndarray:
    """A 2D grey or (H, W, 3|4) colour image; singleton axes are dropped."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
        else:
            import imageio.v3 as iio

            arr = iio.imread(path)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: cannot read as an image ({reason})") from exc
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
        return arr
    raise ValueError(f"{path}: expected a 2D grey or RGB(A) image, got shape {arr.shape}")
