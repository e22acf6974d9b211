"""Blocks of a big image: their plan, reading one, and stitching block labels seamlessly.

Blocks are stitched in raster order: an object is written by the first block whose inner
region it touches; later blocks skip objects that are (mostly) written already and never
overwrite a pixel. So a nucleus on a seam gets one label, none is lost, and ids are 1..N.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._postprocess import DEFAULT_MIN_SIZE, label_dtype
from ._settings import DEFAULT_BLOCK, ProgressCallback

Slices = tuple[slice, slice]
MIN_MARGIN = 64
MARGIN_FACTOR = 4.0  # margin = 2x the largest expected nucleus, taken as 2x the typical one
SKIP_SHARE = 0.5  # an object already written to this share is left to the block that wrote it


@dataclass(frozen=True)
class Block:
    """One block: its ``inner`` region (blocks tile the image) and its ``region`` with margin."""

    inner: Slices
    region: Slices

    @property
    def local_inner(self) -> Slices:
        """The inner region in the coordinates of ``region``."""
        (iy, ix), (ry, rx) = self.inner, self.region
        return (
            slice(iy.start - ry.start, iy.stop - ry.start),
            slice(ix.start - rx.start, ix.stop - rx.start),
        )


def nucleus_margin(diameter: float, extra: int = 0) -> int:
    """Margin around a block: four typical diameters plus ``extra`` (the network's halo).

    The nuclei touching the block, and their neighbours, then lie whole inside; at least 64.
    """
    return max(MIN_MARGIN, math.ceil(MARGIN_FACTOR * diameter) + extra)


def plan_blocks(
    shape: tuple[int, ...], block: int = DEFAULT_BLOCK, margin: int = MIN_MARGIN
) -> list[Block]:
    """Blocks of ``block`` x ``block`` in raster order, each with ``margin`` pixels around."""
    h, w = shape[:2]

    def spans(n: int) -> Iterator[tuple[slice, slice]]:
        for start in range(0, n, block):
            stop = min(start + block, n)
            yield slice(start, stop), slice(max(0, start - margin), min(n, stop + margin))

    return [Block((iy, ix), (ry, rx)) for iy, ry in spans(h) for ix, rx in spans(w)]


def in_order(submit: Callable[[Any], Any], items: list, window: int) -> Iterator[Any]:
    """Results of ``submit(item)`` futures in the order of ``items``, ``window`` in flight.

    Works with ``concurrent.futures`` and dask futures alike (a dask future is released once
    read). When the caller stops early (Cancel), futures not yet read are cancelled.
    """
    pending: deque = deque()
    todo = iter(items)
    try:
        for item in itertools.islice(todo, max(1, window)):
            pending.append(submit(item))
        while pending:
            future = pending.popleft()
            for item in itertools.islice(todo, 1):
                pending.append(submit(item))
            result = future.result()
            getattr(future, "release", lambda: None)()
            yield result
    finally:
        for future in pending:
            future.cancel()


def read_region(source, region: Slices) -> np.ndarray:
    """A region of a numpy, memmap, dask or zarr array as numpy (one read)."""
    part = source[region]
    if hasattr(part, "compute"):
        part = part.compute(scheduler="synchronous")
    return np.asarray(part)


def stitch_block(
    out, block: Block, labels: np.ndarray, next_id: int, min_size: int = DEFAULT_MIN_SIZE
) -> int:
    """Write the objects of ``labels`` that touch the block's inner region into ``out``.

    Objects mostly written already (by an earlier block) are skipped; no written pixel is
    overwritten. New objects get ids ``next_id``, ``next_id + 1`` ...; returns the next free id.
    """
    existing = np.array(read_region(out, block.region), copy=True)
    n = int(labels.max(initial=0)) + 1
    keep = np.zeros(n, bool)
    keep[labels[block.local_inner]] = True
    keep[0] = False
    area = np.bincount(labels.ravel(), minlength=n)
    taken = np.bincount(labels[existing > 0], minlength=n)
    keep &= taken < SKIP_SHARE * area
    new = keep[labels] & (existing == 0)
    keep &= np.bincount(labels[new], minlength=n) >= max(min_size, 1)
    new &= keep[labels]
    ids = np.flatnonzero(keep)
    lut = np.zeros(n, np.uint32)
    lut[ids] = np.arange(next_id, next_id + ids.size, dtype=np.uint32)
    if ids.size:
        existing[new] = lut[labels[new]]
        out[block.region] = existing
    return next_id + int(ids.size)


def stitch_all(
    shape: tuple[int, ...],
    out,
    blocks: list[Block],
    labelled: Iterable[np.ndarray],
    min_size: int,
    progress: ProgressCallback | None = None,
) -> tuple[object, int]:
    """Stitch the labels of ``blocks`` (in the same order) into ``out``; (out, count).

    With ``out`` None, a numpy array is made and cast to the smallest label dtype at the end.
    """
    in_memory = out is None
    out = np.zeros(shape[:2], np.uint32) if in_memory else out
    next_id = 1
    for done, (block, labels) in enumerate(zip(blocks, labelled, strict=True), 1):
        next_id = stitch_block(out, block, labels, next_id, min_size)
        if progress is not None:
            progress(done, len(blocks))
    count = next_id - 1
    return (out.astype(label_dtype(count)) if in_memory else out), count
