"""A synthetic time-lapse with its truth: round nuclei that move, divide, and are missed once."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Movie:
    """Truth labels (T, Y, X; one id per nucleus for its life) and {daughter: mother}."""

    labels: np.ndarray
    parents: dict[int, int] = field(default_factory=dict)


def _disk(out: np.ndarray, centre: np.ndarray, radius: float, value: int) -> None:
    """Paint a disk of ``value`` into the 2D ``out`` (clipped at its edges)."""
    y, x = centre
    y0, y1 = max(int(y - radius), 0), min(int(y + radius) + 2, out.shape[0])
    x0, x1 = max(int(x - radius), 0), min(int(x + radius) + 2, out.shape[1])
    yy, xx = np.ogrid[y0:y1, x0:x1]
    out[y0:y1, x0:x1][(yy - y) ** 2 + (xx - x) ** 2 <= radius**2] = value


def _grid(n: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``n`` starting points on a jittered grid: nuclei start apart."""
    side = int(np.ceil(np.sqrt(n)))
    step = np.array(size) / side
    cells = np.array([(i // side, i % side) for i in range(n)], np.float64)
    return (cells + 0.5) * step + rng.uniform(-0.15, 0.15, (n, 2)) * step


def synthetic_movie(
    frames: int = 20,
    size: tuple[int, int] = (256, 256),
    nuclei: int = 16,
    divisions: int = 3,
    speed: float = 2.0,
    radius: float = 7.0,
    seed: int = 0,
) -> Movie:
    """Nuclei drifting ``speed`` px per frame; ``divisions`` of them split in two mid-way.

    A daughter starts ``radius`` px from where its mother was, on opposite sides.
    """
    rng = np.random.default_rng(seed)
    pos = {i + 1: p for i, p in enumerate(_grid(nuclei, size, rng))}
    vel = {i: rng.normal(0, speed / np.sqrt(2), 2) for i in pos}
    split_at = {
        int(k): int(rng.integers(frames // 4, 3 * frames // 4))
        for k in rng.choice(list(pos), divisions, replace=False)
    }
    movie = Movie(np.zeros((frames, *size), np.uint16))
    for t in range(frames):
        for i in [i for i, when in split_at.items() if when == t and i in pos]:
            away = rng.normal(0, 1, 2)
            away *= radius / np.linalg.norm(away)
            for sign in (1, -1):
                child = max(pos) + 1
                pos[child], vel[child] = pos[i] + sign * away, sign * away / 4
                movie.parents[child] = i
            del pos[i], vel[i]
        for i in pos:
            vel[i] = 0.7 * vel[i] + rng.normal(0, speed * 0.3, 2)
            pos[i] = np.clip(pos[i] + vel[i], radius, np.array(size) - radius - 1)
            _disk(movie.labels[t], pos[i], radius, i)
    return movie


def shuffled(labels: np.ndarray, seed: int = 1) -> np.ndarray:
    """The same masks with ids drawn afresh in every frame: no identity left to copy."""
    rng = np.random.default_rng(seed)
    out = np.zeros(labels.shape, np.uint32)
    for t, plane in enumerate(labels):
        ids = np.unique(plane[plane > 0])
        lut = np.zeros(int(plane.max()) + 1, np.uint32)
        lut[ids] = rng.permutation(len(ids)) + 1 + 1000 * t
        out[t] = lut[plane]
    return out


def truth_links(labels: np.ndarray, parents: dict[int, int]) -> set[tuple]:
    """Links (id, frame) -> (id, frame) of the truth: each nucleus's next sighting, divisions."""
    seen: dict[int, list[int]] = {}
    for t, plane in enumerate(labels):
        for i in np.unique(plane[plane > 0]).tolist():
            seen.setdefault(i, []).append(t)
    links = {((i, a), (i, b)) for i, ts in seen.items() for a, b in zip(ts, ts[1:], strict=False)}
    for child, mother in parents.items():
        if child in seen and mother in seen:
            links.add(((mother, seen[mother][-1]), (child, seen[child][0])))
    return links


def predicted_links(truth: np.ndarray, tracked: np.ndarray, parents: dict[int, int]) -> set:
    """The tracker's links, as truth (id, frame) pairs: same track, or mother to daughter."""
    who = {}  # (frame, tracked id) -> truth id (the masks are the same)
    for t, (plane, mine) in enumerate(zip(truth, tracked, strict=True)):
        both = (plane > 0) & (mine > 0)
        for a, b in set(zip(plane[both].tolist(), mine[both].tolist(), strict=True)):
            who[(t, b)] = a
    by_track: dict[int, list[int]] = {}
    for t, b in sorted(who):
        by_track.setdefault(b, []).append(t)
    links = {
        ((who[(a, b)], a), (who[(c, b)], c))
        for b, ts in by_track.items()
        for a, c in zip(ts, ts[1:], strict=False)
    }
    for child, mother in parents.items():
        if child in by_track and mother in by_track:
            a, c = by_track[mother][-1], by_track[child][0]
            links.add(((who[(a, mother)], a), (who[(c, child)], c)))
    return links


def image_of(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A fluorescence-like movie of the truth: blurred bright nuclei, a dim noisy background."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    sharp = np.where(labels > 0, 900.0, 100.0)
    image = ndi.gaussian_filter(sharp, (0, 1.5, 1.5)) + rng.normal(0, 20, labels.shape)
    return np.clip(image, 0, None).astype(np.uint16)


def on_truth(truth: np.ndarray, found: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """Ids of ``found`` painted on the truth masks they match (IoU >= ``min_iou``), else 0."""
    out = np.zeros(truth.shape, np.int64)
    for t, (plane, mine) in enumerate(zip(truth, found, strict=True)):
        for a in np.unique(plane[plane > 0]).tolist():
            mask = plane == a
            ids, counts = np.unique(mine[mask & (mine > 0)], return_counts=True)
            if not len(ids):
                continue
            b = ids[np.argmax(counts)]
            iou = counts.max() / np.logical_or(mask, mine == b).sum()
            out[t][mask] = b if iou >= min_iou else 0
    return out
