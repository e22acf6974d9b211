"""Reading the DSB2018-style data folder and making training targets.

Layout: ``index.tsv`` (id, size, nuclei, kind, split), ``images/<id>.png``,
``labels/<id>.tif``. Nothing here is bundled: scripts take the folder as an argument.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class Entry:
    """One row of ``index.tsv``."""

    id: str
    kind: str
    split: str
    image: Path
    labels: Path


class DataError(ValueError):
    """The data folder cannot be used as it is; the message says where and why, in a line."""


COLUMNS = ("id", "kind", "split")  # the columns of index.tsv that are read


def _rows(index: Path) -> list[dict[str, str]]:
    """The rows of ``index.tsv``, checked for the columns and values we read."""
    try:
        with index.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            rows, names = list(reader), reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{index}: not a tab-separated text table ({exc})") from exc
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(
            f"{index}: no column {', '.join(missing)} (needs tab-separated "
            f"columns {', '.join(COLUMNS)})"
        )
    for line, row in enumerate(rows, 2):
        if any(not (row.get(c) or "").strip() for c in COLUMNS):
            raise DataError(f"{index}, line {line}: an empty {' / '.join(COLUMNS)} value")
    return rows


def data_paths(data_dir: str | Path) -> list[Path]:
    """What training reads from a data folder: no output may replace any of them."""
    root = Path(data_dir)
    return [root / "index.tsv", root / "images", root / "labels"]


def read_index(data_dir: str | Path, split: str | None = None) -> list[Entry]:
    """Rows of the data folder's index, optionally only one split (which must have rows)."""
    root = Path(data_dir)
    index = root / "index.tsv"
    if not index.is_file():
        raise DataError(f"No index.tsv in data folder {root}")
    rows = _rows(index)
    entries = [
        Entry(
            r["id"],
            r["kind"],
            r["split"],
            root / "images" / f"{r['id']}.png",
            root / "labels" / f"{r['id']}.tif",
        )
        for r in rows
    ]
    chosen = [e for e in entries if split is None or e.split == split]
    if not chosen:
        splits = ", ".join(sorted({e.split for e in entries})) or "none"
        raise DataError(f"{index}: no rows in split {split!r} (splits there: {splits})")
    return chosen


def read_pair(entry: Entry) -> tuple[np.ndarray, np.ndarray]:
    """The image as published and its instance labels, which must have the image's shape."""
    import imageio.v3 as iio
    import tifffile

    try:
        image, labels = iio.imread(entry.image), tifffile.imread(entry.labels)
    except Exception as exc:  # missing or unreadable: one line naming the file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{entry.id}: cannot read {entry.image.name} or {entry.labels.name} ({reason})"
        ) from exc
    if labels.ndim != 2 or labels.shape != image.shape[:2]:
        raise DataError(
            f"{entry.id}: labels of shape {labels.shape} do not match the image's {image.shape[:2]}"
        )
    return image, labels


def normalized_distance(labels: np.ndarray) -> np.ndarray:
    """Per nucleus, the distance to its border divided by its maximum (1 at the centre)."""
    out = np.zeros(labels.shape, np.float32)
    objects = ndi.find_objects(labels)
    for sl, lab in zip(objects, range(1, len(objects) + 1), strict=True):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        mask = labels[sl] == lab
        dist = ndi.distance_transform_edt(mask)
        peak = dist.max()
        if peak > 0:
            out[sl][mask] = (dist / peak)[mask]
    return out


def targets(labels: np.ndarray) -> np.ndarray:
    """Stack of (foreground, normalised distance) float32 targets, shape (2, H, W)."""
    return np.stack([(labels > 0).astype(np.float32), normalized_distance(labels)])
