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


def read_index(data_dir: str | Path, split: str | None = None) -> list[Entry]:
    """Rows of the data folder's index, optionally only one split."""
    root = Path(data_dir)
    index = root / "index.tsv"
    if not index.is_file():
        raise FileNotFoundError(f"No index.tsv in data folder {root}")
    with index.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    entries = [Entry(r["id"], r["kind"], r["split"], root / "images" / f"{r['id']}.png",
                     root / "labels" / f"{r['id']}.tif") for r in rows]
    return [e for e in entries if split is None or e.split == split]


def read_pair(entry: Entry) -> tuple[np.ndarray, np.ndarray]:
    """The image as published and its instance labels."""
    import imageio.v3 as iio
    import tifffile

    return iio.imread(entry.image), tifffile.imread(entry.labels)


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
