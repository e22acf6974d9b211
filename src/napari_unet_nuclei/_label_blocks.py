"""Seeds and labels of big probability maps, block by block in threads, stitched seamlessly.

Post-processing (h-maxima seeds, watershed) is single-threaded but mostly runs outside
Python's lock, so on maps of many megapixels it is cut into blocks with a margin of
several nucleus diameters, run in threads and stitched as in ``_blocks``. This is what
keeps a GPU (where the network takes a few percent of the time) and multi-core CPUs busy.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._postprocess import labels_from_maps, seed_peaks
from ._settings import DEFAULT_BLOCK
from ._stitch import Block, in_order, nucleus_margin, plan_blocks, stitch_all

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
