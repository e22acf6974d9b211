"""Tiles, blocks and seams: the geometry of cutting an image up, and stitching labels back.

- Network tiles (``tile_grid``): even tiles over a stride-aligned image; ``_inference`` runs
  the network on each with a halo and writes back only the inner part.
- Image blocks (``plan_blocks``, ``block_plan``): a big image in blocks, each read with a margin
  of several nucleus diameters and labelled with the decisions made once for the whole image.
- Seams (``stitch_block``, ``stitch_all``): blocks are stitched in raster order; an object is
  written by the first block whose inner region it touches, later blocks skip objects that are
  (mostly) written already and never overwrite a pixel, so a nucleus on a seam gets one label,
  none is lost, and ids are 1..N.
- Post-processing of big maps in blocks (``labels_in_blocks``, ``peaks_in_blocks``): seeds and
  watershed run mostly outside Python's lock, so big maps are labelled block by block in threads.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._postprocess import DEFAULT_MIN_SIZE, label_dtype, labels_from_maps, seed_peaks
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


def round_up(n: int, k: int) -> int:
    """``n`` rounded up to a multiple of ``k``."""
    return -(-n // k) * k


def _starts(length: int, tile: int) -> list[int]:
    """Tile origins covering ``length``; the last tile is shifted back to end at ``length``."""
    starts = list(range(0, length - tile + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _even_tile(length: int, tile: int, stride: int) -> int:
    """The smallest stride multiple <= ``tile`` that covers ``length`` in as few tiles."""
    n = -(-length // tile)
    return min(tile, round_up(-(-length // n), stride))


def tile_grid(
    shape: tuple[int, int], tile: int, stride: int = 1
) -> list[tuple[int, int, int, int]]:
    """(y, x, th, tw) of each tile over a padded (stride-multiple) image shape.

    Tiles are made as even as the stride allows, so that little is computed twice.
    """
    th, tw = (_even_tile(n, min(tile, n), stride) for n in shape)
    return [(y, x, th, tw) for y in _starts(shape[0], th) for x in _starts(shape[1], tw)]


def block_plan(shape: tuple[int, ...], block_size: int, margin: int, stride: int) -> list[Block]:
    """``plan_blocks`` with block and margin rounded up to the network's stride.

    Aligned blocks give the network the same pooling grid as the whole image, so at scale 1
    the labels of a block's inner region are those of a whole-image run.
    """
    return plan_blocks(shape, round_up(block_size, stride), round_up(margin, stride))


def labelled_in_order(
    source, blocks: list[Block], label: Callable[[np.ndarray], np.ndarray], workers: int = 1
) -> Iterator[np.ndarray]:
    """``label`` of each block's region, in order; ``workers`` threads work side by side.

    Post-processing (seeds, watershed) runs mostly outside the GIL, so threads overlap it
    with the network and with each other. Regions are read one at a time (file readers
    need not be thread-safe); at most ``2 * workers`` blocks are in flight.
    """
    read_lock = threading.Lock()

    def work(block: Block) -> np.ndarray:
        with read_lock:
            region = read_region(source, block.region)
        return label(region)

    if workers <= 1:
        yield from (work(b) for b in blocks)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="napari-unet-nuclei-block")
    try:
        yield from in_order(lambda b: pool.submit(work, b), blocks, 2 * workers)
    finally:  # also when the caller stops early (Cancel): queued blocks are dropped
        pool.shutdown(wait=False, cancel_futures=True)


PARALLEL_PIXELS = 8_000_000  # maps larger than this are post-processed block by block
BLOCK = DEFAULT_BLOCK  # post-processing blocks: the same edge as image blocks


def use_blocks(
    shape: tuple[int, ...], diameter: float | None, workers: int, pixels: int = PARALLEL_PIXELS
) -> bool:
    """Block-wise post-processing only for big maps whose nucleus size is known."""
    return diameter is not None and workers > 1 and shape[0] * shape[1] > pixels


def _plan(shape: tuple[int, ...], diameter: float, block: int) -> list[Block]:
    margin = nucleus_margin(diameter)
    return plan_blocks(shape, block, -(-margin // 2) * 2)  # even: coarse seed grids agree


def _each(
    blocks: list[Block], work: Callable[[Block], np.ndarray], workers: int
) -> list[np.ndarray]:
    with ThreadPoolExecutor(workers, thread_name_prefix="napari-unet-nuclei-label") as pool:
        return list(in_order(lambda b: pool.submit(work, b), blocks, len(blocks)))


def peaks_in_blocks(
    distance: np.ndarray, diameter: float, step: int, workers: int, block: int = BLOCK
) -> np.ndarray:
    """``seed_peaks`` of a big distance map, each block's inner part from its own region."""
    blocks = _plan(distance.shape, diameter, block)
    out = np.zeros(distance.shape, bool)
    parts = _each(
        blocks, lambda b: seed_peaks(distance[b.region], step=step)[b.local_inner], workers
    )
    for block, part in zip(blocks, parts, strict=True):
        out[block.inner] = part
    return out


def labels_in_blocks(
    foreground: np.ndarray,
    distance: np.ndarray,
    threshold: float,
    split: bool,
    min_size: int,
    peaks: np.ndarray | None,
    diameter: float,
    workers: int,
    block: int = BLOCK,
) -> np.ndarray:
    """``labels_from_maps`` of big maps: regions labelled in threads, then stitched in order."""
    blocks = _plan(foreground.shape, diameter, block)

    def label(part: Block) -> np.ndarray:
        r = part.region
        return labels_from_maps(
            foreground[r],
            distance[r],
            threshold,
            split,
            min_size,
            None if peaks is None else peaks[r],
        )

    labelled = _each(blocks, label, workers)
    return stitch_all(foreground.shape, None, blocks, labelled, min_size)[0]
