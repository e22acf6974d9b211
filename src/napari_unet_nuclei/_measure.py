"""Per-nucleus measurements from a label image: pure numpy, no napari, no pandas.

The table is a plain ``dict`` of equal-length 1D arrays (one row per nucleus, in label
order) so the widget can hand it to a Labels layer's ``features`` and the CLI or the
writer can turn it into CSV.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COLUMNS = ("label", "area_px", "area_scaled", "centroid_y_px", "centroid_x_px",
           "centroid_y", "centroid_x", "mean_intensity")


def _grey(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return the image as float64 with one value per pixel (RGB(A) channels are averaged)."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.shape == shape:
        return arr
    if arr.ndim == len(shape) + 1 and arr.shape[:-1] == shape:
        return arr[..., :3].mean(axis=-1)
    raise ValueError(f"image shape {arr.shape} does not match labels shape {shape}")


def _pair(values: Sequence[float] | None, default: float) -> np.ndarray:
    """Return the last two entries of a napari-style scale/translate (y, x) as floats."""
    if values is None:
        return np.full(2, default)
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size < 2:
        raise ValueError(f"need at least (y, x) values, got {values!r}")
    return arr[-2:]


def _compact(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat bin indices plus the label value of each bin; sparse huge ids get compacted."""
    flat = labels.ravel()
    if int(flat.max()) <= 4 * flat.size:
        return flat.astype(np.intp, copy=False), np.arange(int(flat.max()) + 1)
    values, inverse = np.unique(flat, return_inverse=True)
    if values[0] != 0:  # keep bin 0 for the background even when there is none
        values, inverse = np.concatenate([[0], values]), inverse + 1
    return inverse.ravel().astype(np.intp, copy=False), values


def empty_table() -> dict[str, np.ndarray]:
    """Return a table with every column and no rows."""
    table = {name: np.zeros(0, np.float64) for name in COLUMNS}
    table["label"] = np.zeros(0, np.int64)
    table["area_px"] = np.zeros(0, np.int64)
    return table


def measure_nuclei(labels: np.ndarray, image: np.ndarray | None = None,
                   scale: Sequence[float] | None = None,
                   translate: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """One row per nucleus of a 2D label image: area, centroid, mean image intensity.

    ``scale``/``translate`` are (y, x) pixel size and origin, as on a napari layer:
    ``area_scaled`` is in squared scale units and ``centroid_y/x`` in world coordinates.
    ``mean_intensity`` is NaN without an image. Inputs are never modified.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or lab.dtype.kind not in "iub":
        raise ValueError(f"labels must be a 2D integer array, got {lab.dtype} {lab.shape}")
    if lab.size == 0 or lab.max() <= 0:
        return empty_table()
    if lab.min() < 0:
        raise ValueError("labels must not be negative")
    flat, values = _compact(lab)
    area = np.bincount(flat)
    ids = np.flatnonzero(area)
    ids = ids[ids > 0]
    yy, xx = np.indices(lab.shape, dtype=np.float64)
    cy = np.bincount(flat, weights=yy.ravel())[ids] / area[ids]
    cx = np.bincount(flat, weights=xx.ravel())[ids] / area[ids]
    sy, sx = _pair(scale, 1.0)
    ty, tx = _pair(translate, 0.0)
    if image is None:
        mean = np.full(ids.size, np.nan)
    else:
        mean = np.bincount(flat, weights=_grey(image, lab.shape).ravel())[ids] / area[ids]
    return {"label": values[ids].astype(np.int64), "area_px": area[ids].astype(np.int64),
            "area_scaled": area[ids] * abs(sy * sx), "centroid_y_px": cy, "centroid_x_px": cx,
            "centroid_y": ty + sy * cy, "centroid_x": tx + sx * cx, "mean_intensity": mean}


def measure_stack(labels: np.ndarray, image: np.ndarray | None = None,
                  scale: Sequence[float] | None = None,
                  translate: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """``measure_nuclei`` for 2D labels; for stacks, per plane with a leading ``plane`` column.

    ``image`` has the labels' shape (plus a trailing RGB axis) or is None.
    """
    lab = np.asarray(labels)
    if lab.ndim == 2:
        return measure_nuclei(lab, image, scale, translate)
    yx_scale = None if scale is None else list(scale)[-2:]
    yx_shift = None if translate is None else list(translate)[-2:]
    tables, planes = [], []
    for i, index in enumerate(np.ndindex(*lab.shape[:-2])):
        plane_image = None if image is None else np.asarray(image[index])
        table = measure_nuclei(lab[index], plane_image, yx_scale, yx_shift)
        tables.append(table)
        planes.append(np.full(len(table["label"]), i, np.int64))
    out = {"plane": np.concatenate(planes)}
    out.update({k: np.concatenate([t[k] for t in tables]) for k in COLUMNS})
    return out


def as_features(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the table as napari Labels ``features``: with an ``index`` column of labels."""
    return {"index": table["label"], **table}
