"""Per-nucleus measurements from a label image: pure numpy, no napari, no pandas.

The table is a plain ``dict`` of equal-length 1D arrays (one row per nucleus, in label
order) so the widget can hand it to a Labels layer's ``features`` and the CLI or the
writer can turn it into CSV.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COLUMNS = (
    "label",
    "area_px",
    "area_scaled",
    "centroid_y_px",
    "centroid_x_px",
    "centroid_y",
    "centroid_x",
    "mean_intensity",
)


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


BAND_PIXELS = 4_000_000  # pixels measured at a time: memory stays bounded for huge images


def _compact(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids 0..k-1 of ``labels`` (same shape) and the label value of each id."""
    values, inverse = np.unique(labels, return_inverse=True)
    if values[0] != 0:  # keep id 0 for the background even when there is none
        values, inverse = np.concatenate([[0], values]), inverse + 1
    return inverse.reshape(labels.shape), values


def empty_table() -> dict[str, np.ndarray]:
    """Return a table with every column and no rows."""
    table = {name: np.zeros(0, np.float64) for name in COLUMNS}
    table["label"] = np.zeros(0, np.int64)
    table["area_px"] = np.zeros(0, np.int64)
    return table


def _bands(shape: tuple[int, ...]) -> list[tuple[int, int]]:
    rows = max(1, BAND_PIXELS // max(shape[1], 1))
    return [(y, min(shape[0], y + rows)) for y in range(0, shape[0], rows)]


def _extremes(lab: object) -> tuple[int, int]:
    """(min, max) of a label array read band by band; (0, 0) when it is empty."""
    if not all(lab.shape):
        return 0, 0
    low, top = 0, 0
    for y0, y1 in _bands(lab.shape):
        band = np.asarray(lab[y0:y1])  # one band in memory at a time
        low, top = min(low, int(band.min())), max(top, int(band.max()))
    return low, top


def _check_image_shape(image: object, shape: tuple[int, ...]) -> None:
    got = tuple(np.shape(image)) if not hasattr(image, "shape") else tuple(image.shape)
    if got != shape and not (len(got) == 3 and got[:2] == shape):
        raise ValueError(f"image shape {got} does not match labels shape {shape}")


def _sums(lab: object, image: object | None, n: int) -> np.ndarray:
    """Per id 0..n-1: pixel count, sum of y, sum of x, sum of intensity; band by band."""
    h, w = lab.shape
    sums = np.zeros((4, n))
    for y0, y1 in _bands((h, w)):
        ids = np.asarray(lab[y0:y1]).astype(np.intp, copy=False).ravel()
        sums[0] += np.bincount(ids, minlength=n)
        sums[1] += np.bincount(ids, np.repeat(np.arange(y0, y1, dtype=np.float64), w), n)
        sums[2] += np.bincount(ids, np.tile(np.arange(w, dtype=np.float64), y1 - y0), n)
        if image is not None:
            grey = _grey(np.asarray(image[y0:y1]), (y1 - y0, w))
            sums[3] += np.bincount(ids, grey.ravel(), n)
    return sums


def measure_nuclei(
    labels: np.ndarray,
    image: np.ndarray | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
) -> dict[str, np.ndarray]:
    """One row per nucleus of a 2D label image: area, centroid, mean image intensity.

    ``scale``/``translate`` are (y, x) pixel size and origin, as on a napari layer:
    ``area_scaled`` is in squared scale units and ``centroid_y/x`` in world coordinates.
    ``mean_intensity`` is NaN without an image. Inputs are never modified. Labels and
    image may be memory maps, zarr or dask arrays: they are read a band of rows at a time.
    """
    lab = labels if hasattr(labels, "shape") and hasattr(labels, "dtype") else np.asarray(labels)
    if len(lab.shape) != 2 or np.dtype(lab.dtype).kind not in "iub":
        raise ValueError(f"labels must be a 2D integer array, got {lab.dtype} {lab.shape}")
    if image is not None:
        _check_image_shape(image, tuple(lab.shape))
    low, top = _extremes(lab)
    if top <= 0:
        return empty_table()
    if low < 0:
        raise ValueError("labels must not be negative")
    if top > 4 * lab.size:  # a few huge ids: measure dense ids instead
        lab, values = _compact(np.asarray(lab))
    else:
        values = np.arange(top + 1)
    sums = _sums(lab, image, len(values))
    area = sums[0]
    ids = np.flatnonzero(area)
    ids = ids[ids > 0]
    cy, cx = sums[1][ids] / area[ids], sums[2][ids] / area[ids]
    sy, sx = _pair(scale, 1.0)
    ty, tx = _pair(translate, 0.0)
    mean = np.full(ids.size, np.nan) if image is None else sums[3][ids] / area[ids]
    return {
        "label": values[ids].astype(np.int64),
        "area_px": area[ids].astype(np.int64),
        "area_scaled": area[ids] * abs(sy * sx),
        "centroid_y_px": cy,
        "centroid_x_px": cx,
        "centroid_y": ty + sy * cy,
        "centroid_x": tx + sx * cx,
        "mean_intensity": mean,
    }


def measure_stack(
    labels: np.ndarray,
    image: np.ndarray | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    parents: dict[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """``measure_nuclei`` for 2D labels; for stacks, per plane with a leading ``plane`` column.

    ``image`` has the labels' shape (plus a trailing RGB axis) or is None. ``parents``
    ({daughter: mother}) marks a tracked time-lapse, whose ids are tracks: see ``with_tracks``.
    """
    lab = np.asarray(labels)
    if parents is not None:
        return with_tracks(measure_stack(lab, image, scale, translate), parents)
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


def with_tracks(table: dict[str, np.ndarray], parents: dict[int, int]) -> dict[str, np.ndarray]:
    """The table of tracked labels with ``track_id`` (the label) and ``parent_track_id``.

    ``parent_track_id`` is the track a nucleus divided from, 0 when none.
    """
    labels = table["label"]
    mothers = np.array([parents.get(int(i), 0) for i in labels.tolist()], np.int64)
    return {**table, "track_id": labels.astype(np.int64), "parent_track_id": mothers}


def track_table(labels: np.ndarray, parents: dict[int, int]) -> dict[str, np.ndarray]:
    """One row per track of time-lapse labels (T, Y, X): its frames and its mother.

    The Cell Tracking Challenge's lineage (``res_track.txt``: L B E P), with names:
    ``track_id``, ``start_frame``, ``end_frame`` (0-based, inclusive), ``parent_track_id``
    (0: none).
    """
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t, plane in enumerate(np.asarray(labels)):
        for i in np.unique(plane[plane > 0]).tolist():
            first.setdefault(i, t)
            last[i] = t
    ids = sorted(first)
    return {
        "track_id": np.array(ids, np.int64),
        "start_frame": np.array([first[i] for i in ids], np.int64),
        "end_frame": np.array([last[i] for i in ids], np.int64),
        "parent_track_id": np.array([parents.get(i, 0) for i in ids], np.int64),
    }


def as_features(table: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the table as napari Labels ``features``: with an ``index`` column of labels."""
    return {"index": table["label"], **table}
