"""Stacks: axes of time-lapses, Z-stacks and multichannel images; planes linked into 3D.

Axes are named with the letters T, Z, C, Y and X (e.g. ``"TZYX"``, ``"CYX"``, ``"YXC"``).
The engine (``NucleusModel.segment``) segments a stack plane by plane with ids unique
across the stack; with ``link_z`` the planes of a Z-stack are joined into 3D nuclei here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._postprocess import label_dtype, relabel_sequential
from ._settings import ProgressCallback

AXIS_LETTERS = "TZCYX"
MAX_CHANNELS = 4  # a leading axis this short may be channels rather than planes
DEFAULT_LINK_IOU = 0.3


class ChannelError(ValueError):
    """An image with several channels (not colour) and no channel chosen, or a bad choice."""


class AmbiguousAxesError(ValueError):
    """The axes of an array cannot be told from its shape; ``guess`` holds the best one."""

    def __init__(self, message: str, guess: AxesGuess) -> None:
        super().__init__(message)
        self.guess = guess


@dataclass(frozen=True)
class AxesGuess:
    """A guess of an array's axes; ``ambiguous`` means: ask the user before trusting it."""

    axes: str
    ambiguous: bool = False
    reason: str = ""


def guess_axes(shape: tuple[int, ...], rgb: bool | None = None) -> AxesGuess:
    """Best guess of the axes of ``shape``; ``rgb`` says whether a last axis of 3/4 is colour."""
    ndim = len(shape)
    colour = ndim >= 3 and shape[-1] in (3, 4) and rgb is not False
    if rgb and not colour:
        raise ValueError(f"rgb=True needs a last axis of 3 or 4, got shape {shape}")
    if ndim in (3, 4) and shape[-1] == 2 and min(shape[-3:-1]) > MAX_CHANNELS:
        # two channels last (an image two pixels wide is not one): the user picks one
        return AxesGuess("TZ"[5 - ndim :] + "YXC", ndim == 4, "T and Z were guessed")
    n_lead = ndim - 2 - int(colour)
    if n_lead < 0 or n_lead > 3 - int(colour):
        raise ValueError(f"Cannot guess the axes of a {ndim}D array of shape {shape}; give axes.")
    lead = shape[:n_lead]
    short = [i for i, n in enumerate(lead) if n <= MAX_CHANNELS]
    channel_at = None if colour or not short else short[-1]
    planes = "TZ"[2 - (n_lead - (channel_at is not None)) :]
    letters = list(planes)
    if channel_at is not None:
        letters.insert(channel_at, "C")
    axes = "".join(letters) + "YX" + ("C" if colour else "")
    if channel_at is not None:
        return AxesGuess(
            axes,
            True,
            f"an axis of length {lead[channel_at]} may be channels or planes (Z or time)",
        )
    if colour and rgb is None and min(shape[-3:-1]) <= MAX_CHANNELS:
        return AxesGuess(axes, True, "the last axis may be colour or image width")
    if n_lead == 2:
        return AxesGuess(axes, True, "T and Z were guessed from their order")
    return AxesGuess(axes)


def check_axes(axes: str, ndim: int) -> str:
    """Upper-cased ``axes``, checked against the array's number of dimensions."""
    axes = axes.upper()
    if len(axes) != ndim:
        raise ValueError(f"axes {axes!r} name {len(axes)} axes but the array has {ndim}")
    if any(a not in AXIS_LETTERS for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"axes {axes!r}: use each of the letters {AXIS_LETTERS} at most once")
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} must contain Y and X")
    return axes


def resolve_axes(shape: tuple[int, ...], axes: str | None, rgb: bool | None = None) -> str:
    """The given axes (checked) or an unambiguous guess; raises ``AmbiguousAxesError``."""
    if axes is not None:
        return check_axes(axes, len(shape))
    guess = guess_axes(shape, rgb)
    if guess.ambiguous:
        raise AmbiguousAxesError(
            f"Cannot tell the axes of shape {shape}: {guess.reason}. "
            f"Pass axes (best guess: {guess.axes!r}).",
            guess,
        )
    return guess.axes


def choose_channel(n: int, channel: int | None, colour: bool = True) -> int | None:
    """The one channel rule: the index of ``channel`` among ``n``, or None to keep them all.

    Without ``channel``, a C axis is kept only as colour (3 or 4, when ``colour`` may be);
    anything else must name one. Raises ``ChannelError`` saying which.
    """
    if channel is None:
        if colour and n in (3, 4):
            return None
        raise ChannelError(f"{n} channels, not colour: choose one")
    if not -n <= channel < n:
        raise ChannelError(f"channel {channel} is out of range for {n} channels")
    return channel % n


def canonical_view(stack, axes: str, channel: int | None = None):
    """The stack as ([T][Z], Y, X[, colour]) without copying; ``channel`` picks one of C."""
    order = [axes.index(a) for a in "TZYXC" if a in axes]
    view = (stack if hasattr(stack, "transpose") else np.asarray(stack)).transpose(order)
    if "C" not in axes:
        if channel is not None:
            raise ChannelError(f"channel={channel} given but axes {axes!r} have no C axis")
        return view
    index = choose_channel(view.shape[-1], channel)
    return view if index is None else view[..., index]  # None: RGB(A), each plane as colour


def output_axes(axes: str) -> str:
    """Axes of the labels of a stack with ``axes``: the channel axis is gone."""
    return axes.replace("C", "")


def read_plane(view, index: tuple[int, ...]) -> np.ndarray:
    """One plane of a canonical view as numpy (computed when lazy)."""
    plane = view[index]
    return np.asarray(plane.compute() if hasattr(plane, "compute") else plane)


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as a 2D grey or (H, W, 3|4) colour array; a clear error otherwise."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        spatial = arr.shape[:2]
    elif arr.ndim == 2:
        spatial = arr.shape
    else:
        raise ValueError(
            f"predict takes a 2D grey or RGB(A) image; got shape {arr.shape}. "
            "For stacks and time series use segment(stack, axes=...)."
        )
    if min(spatial) == 0:
        raise ValueError(f"The image is empty (shape {arr.shape}).")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"Unsupported image data type {arr.dtype}.")
    return arr


def lazy_array(image):
    """``image`` with numpy-style ``transpose``; zarr or h5py wrapped lazily in dask.

    So a big image is never read whole; numpy and dask arrays are returned as they are.
    """
    if hasattr(image, "transpose"):
        return image
    if not hasattr(image, "shape"):
        return np.asarray(image)
    import dask.array as da

    return da.from_array(image, chunks=getattr(image, "chunks", "auto"))


def plane_progress(progress: ProgressCallback | None, done: int, total: int):
    """A per-batch callback that re-reports ``done`` planes, so a stack run can cancel."""
    if progress is None:
        return None
    return lambda _tiles, _of: progress(done, total)


def stack_labels(labels: np.ndarray, axes: str, link_iou: float | None) -> np.ndarray:
    """A stack's ([T], [Z], Y, X) labels linked along Z (unless None), in ``axes`` order."""
    labels = labels if link_iou is None else relabel_sequential(link_all(labels, link_iou))
    labels = labels.astype(label_dtype(int(labels.max(initial=0))), copy=False)
    canonical = [a for a in "TZYX" if a in axes]
    return np.ascontiguousarray(labels.transpose([canonical.index(a) for a in output_axes(axes)]))


def match_labels(
    previous: np.ndarray, current: np.ndarray, min_iou: float = DEFAULT_LINK_IOU
) -> dict[int, int]:
    """One-to-one {current id: previous id} for label pairs with IoU >= ``min_iou``, best first."""
    both = (previous > 0) & (current > 0)
    if not both.any():
        return {}
    base = int(current.max()) + 1
    keys, inter = np.unique(
        previous[both].astype(np.int64) * base + current[both], return_counts=True
    )
    prev_ids, cur_ids = keys // base, keys % base
    area_prev = np.bincount(previous.ravel(), minlength=int(prev_ids.max()) + 1)[prev_ids]
    area_cur = np.bincount(current.ravel(), minlength=base)[cur_ids]
    iou = inter / (area_prev + area_cur - inter)
    mapping: dict[int, int] = {}
    used: set[int] = set()
    for i in np.argsort(-iou, kind="stable"):
        if iou[i] < min_iou:
            break
        p, c = int(prev_ids[i]), int(cur_ids[i])
        if c not in mapping and p not in used:
            mapping[c] = p
            used.add(p)
    return mapping


def _remap(labels: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    if not mapping:
        return labels.copy()
    ids, inverse = np.unique(labels, return_inverse=True)
    new = np.array([mapping.get(int(i), int(i)) for i in ids], labels.dtype)
    return new[inverse].reshape(labels.shape)


def link_planes(labels: np.ndarray, min_iou: float = DEFAULT_LINK_IOU) -> np.ndarray:
    """Join (Z, Y, X) labels with ids unique per plane into 3D objects by overlap; new array.

    A label of plane z+1 takes the id of the label of plane z it overlaps best (IoU at
    least ``min_iou``), one to one. Ids are not made consecutive here.
    """
    out = np.array(labels, copy=True)
    for z in range(1, out.shape[0]):
        out[z] = _remap(out[z], match_labels(out[z - 1], out[z], min_iou))
    return out


def link_all(labels: np.ndarray, min_iou: float = DEFAULT_LINK_IOU) -> np.ndarray:
    """Link along the Z axis (the one before Y, X) of a ([T], Z, Y, X) array."""
    flat = labels.reshape((-1,) + labels.shape[-3:])
    linked = np.stack([link_planes(volume, min_iou) for volume in flat])
    return linked.reshape(labels.shape)


@dataclass(frozen=True)
class Tracked:
    """A time-lapse's labels with one id per nucleus over time (its track), and the tracks.

    ``tracks``: rows of (track id, frame, y, x), as a napari Tracks layer takes them;
    ``parents``: {daughter track id: mother track id} at each division.
    """

    labels: np.ndarray
    tracks: np.ndarray
    parents: dict[int, int]
    seconds: float


def _centroids(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ids of a 2D label plane, their (y, x) centroids and their areas, in id order."""
    from ._measure import measure_nuclei

    table = measure_nuclei(plane)
    yx = np.stack([table["centroid_y_px"], table["centroid_x_px"]], axis=1)
    return table["label"], yx, table["area_px"]


def typical_diameter(areas: np.ndarray) -> float:
    """The median equivalent diameter of nuclei of these areas, in pixels (0 without any)."""
    return float(2 * np.sqrt(np.median(areas) / np.pi)) if len(areas) else 0.0


def _link(coords: list[np.ndarray], max_distance: float, gap: int):  # noqa: ANN202 (a DiGraph)
    """Links between frames by laptrack: moves, gaps of up to ``gap`` frames, divisions."""
    from laptrack import LapTrack

    cutoff = float(max_distance) ** 2  # laptrack's default metric: squared distances
    tracker = LapTrack(
        cutoff=cutoff,
        gap_closing_cutoff=cutoff,
        gap_closing_max_frame_count=gap + 1,
        splitting_cutoff=cutoff,
    )
    return tracker.predict([c if len(c) else np.zeros((0, 2)) for c in coords])


def _track_ids(graph) -> tuple[dict[tuple[int, int], int], dict[int, int]]:  # noqa: ANN001
    """{(frame, index): track id from 1} and {daughter: mother}: a track ends at a division."""
    track: dict[tuple[int, int], int] = {}
    parents: dict[int, int] = {}
    count = 0
    for node in sorted(graph.nodes):
        before = list(graph.predecessors(node))
        mother = before[0] if len(before) == 1 else None
        if mother is not None and graph.out_degree(mother) == 1:
            track[node] = track[mother]
            continue
        count += 1
        track[node] = count
        if mother is not None:
            parents[count] = track[mother]
    return track, parents


def _relabel(plane: np.ndarray, ids: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``plane`` with each id of ``ids`` (sorted) replaced by the same entry of ``new``."""
    at = np.clip(np.searchsorted(ids, plane), 0, max(len(ids) - 1, 0))
    return np.where(plane > 0, new[at] if len(ids) else 0, 0).astype(new.dtype)


def track_nuclei(labels: np.ndarray, max_distance: float | None = None, gap: int = 1) -> Tracked:
    """Give each nucleus of a (T, Y, X) label stack one id in every frame (laptrack).

    A nucleus may move ``max_distance`` pixels per frame (default: the typical nucleus
    diameter) and be missed in up to ``gap`` frames; a division ends the mother's track
    and starts one per daughter. Ids of the input may repeat between frames.
    """
    from ._postprocess import label_dtype

    t0 = time.perf_counter()
    stack = np.asarray(labels)
    if stack.ndim != 3:
        raise ValueError(f"tracking needs a (T, Y, X) label stack, got shape {stack.shape}")
    found = [_centroids(plane) for plane in stack]
    areas = np.concatenate([a for _, _, a in found])
    distance = max_distance or max(typical_diameter(areas), 1.0)
    coords = [c for _, c, _ in found]
    track, parents = _track_ids(_link(coords, distance, gap)) if any(map(len, coords)) else ({}, {})
    out = np.zeros(stack.shape, label_dtype(max(track.values(), default=0)))
    rows = []
    for t, ((ids, coords, _), plane) in enumerate(zip(found, stack, strict=True)):
        new = np.array([track[(t, i)] for i in range(len(ids))], out.dtype)
        out[t] = _relabel(plane, ids, new)
        rows += [(n, t, y, x) for n, (y, x) in zip(new.tolist(), coords.tolist(), strict=True)]
    tracks = np.array(sorted(rows), np.float64).reshape(-1, 4)
    return Tracked(out, tracks, parents, time.perf_counter() - t0)
