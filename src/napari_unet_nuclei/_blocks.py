"""Blocks of a big 2D image: the plan, and their labels in raster order from threads.

Every block is read with a margin of several nucleus diameters and labelled with the
decisions made once for the whole image (``NucleusModel.decide``); ``_stitch`` joins them
so that a nucleus on a seam gets one label, none is lost, and ids are 1..N.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._stack import AmbiguousAxesError, canonical_view, check_axes, guess_axes
from ._stitch import Block, in_order, plan_blocks, read_region


def as_image2d(data, axes: str | None = None, channel: int | None = None):
    """A lazy 2D (or YX + colour) view of numpy, dask or zarr data; other axes must be 1 long."""
    arr = data
    if not isinstance(arr, np.ndarray) and not hasattr(arr, "compute"):
        import dask.array as da

        arr = da.from_array(data, chunks=getattr(data, "chunks", "auto"))
    if axes is None:
        while arr.ndim > 2 and arr.shape[0] == 1:
            arr = arr[0]
        guess = guess_axes(tuple(arr.shape))
        if guess.ambiguous and not (channel is not None and "C" in guess.axes):
            raise AmbiguousAxesError(
                f"Cannot tell the axes of shape {arr.shape}: {guess.reason}. Pass axes.", guess
            )
        axes = guess.axes
    axes = check_axes(axes, arr.ndim)
    planes = [a for a in axes if a in "TZ"]
    if any(arr.shape[axes.index(a)] > 1 for a in planes):
        raise ValueError(f"shape {arr.shape} with axes {axes!r} is a stack, not one big image")
    return canonical_view(arr, axes, channel)[(0,) * len(planes)]


def _round_up(n: float, k: int) -> int:
    return int(math.ceil(n / k) * k)


def block_plan(shape: tuple[int, ...], block_size: int, margin: int, stride: int) -> list[Block]:
    """``plan_blocks`` with block and margin rounded up to the network's stride.

    Aligned blocks give the network the same pooling grid as the whole image, so at scale 1
    the labels of a block's inner region are those of a whole-image run.
    """
    return plan_blocks(shape, _round_up(block_size, stride), _round_up(margin, stride))


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
