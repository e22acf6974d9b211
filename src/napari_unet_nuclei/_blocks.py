"""Segment a 2D image larger than memory block by block, one label per nucleus across seams.

Every block is read with a margin of several nucleus diameters, normalised with
percentiles shared by the whole image, run at one global scale and labelled. Blocks are
stitched in raster order: an object is written by the first block whose inner region it
touches; later blocks skip objects that are (mostly) written already and never overwrite
a pixel. So a nucleus on a seam gets one label, none is lost, and ids are 1..N.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from ._api import (
    COARSE_SEEDS_DIAMETER,
    DEFAULT_MODEL_DIAMETER,
    ESTIMATE_CROP,
    Diameter,
    _parse_diameter,
    auto_scale,
    trained_diameter,
)
from ._inference import (
    DEFAULT_BATCH,
    DEFAULT_HALO,
    DEFAULT_TILE,
    ProgressCallback,
    model_on,
    predict_maps,
)
from ._normalize import HIGH_PERCENTILE, LOW_PERCENTILE, to_grey
from ._postprocess import (
    DEFAULT_MIN_SIZE,
    DEFAULT_THRESHOLD,
    labels_from_maps,
    seed_peaks,
)
from ._stack import AmbiguousAxesError, canonical_view, check_axes, guess_axes
from ._stitch import (
    DEFAULT_BLOCK,
    Block,
    Slices,
    nucleus_margin,
    plan_blocks,
    read_region,
    stitch_all,
    stitch_block,
)

__all__ = [
    "Block",
    "BlockSettings",
    "plan_blocks",
    "read_region",
    "segment_blocks",
    "stitch_all",
    "stitch_block",
]

SAMPLE_PIXELS = 2_000_000  # pixels read for the global percentiles
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)  # blocks labelled side by side (threads)


@dataclass(frozen=True)
class BlockSettings:
    """Everything a worker needs to label a block the same way as every other block."""

    low: float
    high: float
    invert: bool
    scale: float = 1.0
    diameter: float = DEFAULT_MODEL_DIAMETER  # typical nucleus diameter, image pixels
    device: str = "auto"
    weights: str | None = None
    tile: int = DEFAULT_TILE
    halo: int = DEFAULT_HALO
    batch_size: int = DEFAULT_BATCH
    threshold: float = DEFAULT_THRESHOLD
    split: bool = True
    min_size: int = DEFAULT_MIN_SIZE
    stride: int = 16  # the network's; blocks aligned to it see the pooling grid of the image
    coarse_seeds: bool = False  # seeds searched at half resolution, as ``predict`` decides


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


def normalize_with(image: np.ndarray, low: float, high: float, invert: bool) -> np.ndarray:
    """Grey float32 image mapped so ``low``/``high`` become 0/1 (inverted if asked); new array."""
    grey = to_grey(image)
    grey = np.where(np.isfinite(grey), grey, 0.0).astype(np.float32)
    if high - low < 1e-6:
        norm = np.zeros_like(grey)
    else:
        norm = ((grey - np.float32(low)) / np.float32(high - low)).astype(np.float32, copy=False)
    return 1.0 - norm if invert else norm


def global_normalization(source, invert: bool | None = None) -> tuple[float, float, bool]:
    """(low, high, invert) from percentiles of a strided subsample of the whole image."""
    h, w = source.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w / SAMPLE_PIXELS)))
    grey = to_grey(read_region(source, (slice(None, None, step), slice(None, None, step))))
    values = grey[np.isfinite(grey)]
    if values.size == 0:
        return 0.0, 1.0, bool(invert)
    low, high = (float(v) for v in np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE]))
    if invert is None:
        invert = float(np.median(values)) > (low + high) / 2 if high > low else False
    return low, high, bool(invert)


def _central(shape: tuple[int, ...], size: int) -> Slices:
    h, w = shape[:2]
    y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return slice(y, min(h, y + size)), slice(x, min(w, x + size))


def estimate_scale(
    source, settings: BlockSettings, diameter: Diameter = "auto"
) -> tuple[float, float]:
    """(scale, diameter in image pixels), as ``predict`` decides them, once for the image."""
    model, dev = model_on(settings.device, settings.weights)
    model_diameter = trained_diameter(model)
    wanted = _parse_diameter(diameter)
    if wanted is None:
        return 1.0, model_diameter
    if wanted != "auto":
        return model_diameter / float(wanted), float(wanted)
    crop = read_region(source, _central(source.shape, ESTIMATE_CROP))
    norm = normalize_with(crop, settings.low, settings.high, settings.invert)
    run = dict(
        model=model,
        device=dev,
        tile=settings.tile,
        halo=settings.halo,
        batch_size=settings.batch_size,
        progress=None,
    )
    scale, estimate, _, _ = auto_scale(norm, model_diameter, run)
    return scale, (estimate if estimate is not None else model_diameter)


def make_settings(
    source,
    diameter: Diameter = "auto",
    invert: bool | None = None,
    threshold: float | None = None,
    **options,
) -> BlockSettings:
    """Global settings of a big image: shared percentiles, polarity and scale.

    ``options``: ``device``, ``weights``, ``tile``, ``halo``, ``batch_size``, ``split``,
    ``min_size`` (see ``BlockSettings``).
    """
    low, high, invert = global_normalization(source, invert)
    t = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    settings = BlockSettings(low, high, invert, threshold=t, **options)
    scale, size = estimate_scale(source, settings, diameter)
    model = model_on(settings.device, settings.weights)[0]
    coarse = (
        _parse_diameter(diameter) is not None
        and trained_diameter(model) / scale >= COARSE_SEEDS_DIAMETER
    )
    return replace(
        settings, scale=scale, diameter=size, stride=model.config.stride, coarse_seeds=coarse
    )


def _round_up(n: float, k: int) -> int:
    return int(math.ceil(n / k) * k)


def default_margin(settings: BlockSettings) -> int:
    """Margin around blocks: 2x the largest expected nucleus plus the network's halo.

    Objects that touch a block's inner region, and the neighbours they touch, then lie
    far enough from the block's cut edge to be segmented as in the whole image.
    """
    halo = math.ceil(settings.halo / settings.scale)
    margin = nucleus_margin(settings.diameter, halo)
    return _round_up(margin, settings.stride)


def block_plan(
    shape: tuple[int, ...],
    settings: BlockSettings,
    block_size: int = DEFAULT_BLOCK,
    margin: int | None = None,
) -> list[Block]:
    """``plan_blocks`` with block and margin rounded up to the network's stride.

    Aligned blocks give the network the same pooling grid as the whole image, so at scale 1
    the labels of a block's inner region are those of a whole-image run.
    """
    margin = default_margin(settings) if margin is None else _round_up(margin, settings.stride)
    return plan_blocks(shape, _round_up(block_size, settings.stride), margin)


def label_region(image: np.ndarray, settings: BlockSettings) -> np.ndarray:
    """Labels (1..n) of one block read with its margin."""
    model, dev = model_on(settings.device, settings.weights)
    norm = normalize_with(image, settings.low, settings.high, settings.invert)
    maps = predict_maps(
        norm, model, dev, settings.scale, settings.tile, settings.halo, settings.batch_size
    )
    peaks = seed_peaks(maps[1], step=2) if settings.split and settings.coarse_seeds else None
    return labels_from_maps(
        maps[0], maps[1], settings.threshold, settings.split, settings.min_size, peaks
    )


def labelled_in_order(
    source, blocks: list[Block], settings: BlockSettings, workers: int = 1
) -> Iterator[np.ndarray]:
    """Labels of ``blocks``, in order; ``workers`` threads label blocks side by side.

    Post-processing (seeds, watershed) runs mostly outside the GIL, so threads overlap it
    with the network and with each other. Regions are read one at a time (file readers
    need not be thread-safe); at most ``2 * workers`` blocks are in flight.
    """
    read_lock = threading.Lock()

    def label(block: Block) -> np.ndarray:
        with read_lock:
            region = read_region(source, block.region)
        return label_region(region, settings)

    if workers <= 1:
        yield from (label(b) for b in blocks)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="napari-unet-nuclei-block")
    todo, pending = iter(blocks), deque()
    try:
        for block in todo:
            pending.append(pool.submit(label, block))
            if len(pending) >= 2 * workers:
                break
        while pending:
            labels = pending.popleft().result()
            block = next(todo, None)
            if block is not None:
                pending.append(pool.submit(label, block))
            yield labels
    finally:  # also when the caller stops early (Cancel): queued blocks are dropped
        pool.shutdown(wait=False, cancel_futures=True)


def segment_blocks(
    source,
    out=None,
    block_size: int = DEFAULT_BLOCK,
    margin: int | None = None,
    settings: BlockSettings | None = None,
    progress: ProgressCallback | None = None,
    workers: int = DEFAULT_WORKERS,
    **options,
) -> tuple[object, int]:
    """Label a big 2D (or RGB) image block by block into ``out``; returns (out, count).

    ``source`` is any array with numpy-style slicing (numpy, memmap, dask, zarr); only a
    few blocks plus margins are read at a time. ``out`` (uint32, same height and width)
    defaults to a numpy array, cast to the smallest label dtype at the end. ``workers``
    threads label blocks side by side (the labels do not depend on it). ``options`` go to
    ``make_settings`` (``diameter``, ``invert``, ``threshold``, ``device``, ``weights``...).
    """
    settings = settings or make_settings(source, **options)
    blocks = block_plan(source.shape, settings, block_size, margin)
    labelled = labelled_in_order(source, blocks, settings, workers)
    return stitch_all(source.shape, out, blocks, labelled, settings.min_size, progress)
