"""``diameter="auto"``: find the nucleus size with network passes at halving scales.

Passes run on central squares at ESTIMATE_SCALES (each half the last) until two agree on
nuclei near the model's size; texture cut into pieces at one scale measures differently at
the next, real nuclei do not (``_scale.consistent_diameter``). A coarser pass looks at a
bigger square (``view_side``), so big nuclei are seen in numbers at a bounded cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._postprocess import DEFAULT_MIN_SIZE, DEFAULT_THRESHOLD
from ._prediction import COARSE_SEEDS_DIAMETER, Prediction
from ._scale import (
    Reading,
    agree,
    agreeing_pairs,
    consistent_diameter,
    resize,
    scaled_shape,
    typical_diameter,
)

Maps = Callable[[np.ndarray], np.ndarray]  # normalised 2D image -> (2, H, W) maps at 1x
View = Callable[[int], np.ndarray]  # side -> the image's normalised central square of that side
SCALE_TOLERANCE = 1.25  # estimates within this factor of the model's size need no resampling
ESTIMATE_CROP = 1024  # the full-scale pass looks at most at this central square; a pass at
# scale s at ESTIMATE_CROP / sqrt(s) (a quarter-size pass sees 2048², on 512² of its grid)
ESTIMATE_SCALES = (1.0, 0.5, 0.25, 0.125, 0.0625)  # passes that may run to find the nucleus
# size (each on a grid of at least MIN_PROBE_SIDE): nuclei up to ~250 px fit one of them
MIN_ESTIMATE_SIDE = 32  # no estimating pass on an image smaller than this
MIN_PROBE_SIDE = 64  # no coarser pass below this: too few objects (tissue clumps agree)
UPSCALE_BELOW = 0.6  # full-scale nuclei under this x the model's size: look at 2x as well


def central_region(shape: tuple[int, ...], size: int = ESTIMATE_CROP) -> tuple[slice, slice]:
    """The central ``size`` x ``size`` square of an image (all of a smaller side)."""
    h, w = shape[:2]
    y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return slice(y, min(h, y + size)), slice(x, min(w, x + size))


def view_side(s: float) -> int:
    """The side of the central square a pass at scale ``s`` (at most 1) looks at."""
    return int(round(ESTIMATE_CROP / np.sqrt(s)))


def central_view(shape: tuple[int, ...], read: Callable[[tuple[slice, slice]], np.ndarray]) -> View:
    """``view(side)`` of an image of ``shape``, whose regions ``read`` gives normalised.

    The last square is kept: on an image smaller than the views, every pass sees all of it.
    """
    last: dict[tuple, np.ndarray] = {}

    def view(side: int) -> np.ndarray:
        region = central_region(shape, side)
        key = tuple((r.start, r.stop) for r in region)
        if key not in last:
            last.clear()
            last[key] = read(region)
        return last[key]

    return view


def measured_diameter(pred: Prediction) -> float | None:
    """Median nucleus diameter (image px) of the default labels, minus small fragments."""
    labels = pred.grid_labels(DEFAULT_THRESHOLD, True, DEFAULT_MIN_SIZE)
    d = typical_diameter(labels, pred.foreground > DEFAULT_THRESHOLD)
    return None if d is None else d / pred.grid


def _probe(crop: np.ndarray, s: float, maps: Maps) -> tuple[float | None, Prediction]:
    """Diameter (crop px) measured by one pass run on the ``s`` x grid, and that pass."""
    small = crop if s == 1 else resize(crop, scaled_shape(crop.shape, s))
    out = maps(small)
    # seeds are searched coarsely only on the full-scale pass, the one that may be kept
    pred = Prediction(out[0], out[1], expected_diameter=COARSE_SEEDS_DIAMETER if s == 1 else None)
    d = measured_diameter(pred)
    pred.info["diameter"] = d  # this pass's own measure, kept if it serves as the prediction
    return (None if d is None else d * crop.shape[0] / small.shape[0]), pred


def _settled(readings: list[Reading], model_diameter: float) -> bool:
    """The last two passes agree on nuclei that the finer one saw near the model's size."""
    if len(readings) < 2 or not agree(readings[-2], readings[-1], model_diameter):
        return False
    s, d = readings[-2]
    return 1 / SCALE_TOLERANCE <= d * s / model_diameter <= SCALE_TOLERANCE


def estimate_diameter(
    view: View, model_diameter: float, maps: Maps
) -> tuple[float | None, Prediction | None, float | None]:
    """Typical diameter, the full-scale pass and what that pass measured.

    ``view(side)`` gives the image's normalised central square of that side (or all of a
    smaller image): each pass looks at ``view_side`` of its scale.
    """
    readings: list[Reading] = []
    first = None
    for s in ESTIMATE_SCALES:
        crop = view(view_side(s))
        if s < 1 and min(crop.shape[:2]) * s < MIN_PROBE_SIDE:
            break
        d, pred = _probe(crop, s, maps)
        first = pred if s == 1 else first
        if d is None and any(r[1] is not None for r in readings):
            break  # nuclei seen at a finer scale and gone at this one: coarser sees less
        readings.append((s, d))
        if _settled(readings, model_diameter):
            break
    first_d = readings[0][1] if readings and readings[0][0] == 1 else None
    small = first_d is not None and first_d < UPSCALE_BELOW * model_diameter
    unsettled = first_d is not None and first_d < model_diameter
    unsettled = unsettled and not agreeing_pairs(readings, model_diameter)
    if first is not None and (small or unsettled):
        # small nuclei measure too big at full scale (and blur into clumps at half scale,
        # so no pair agrees); a 2x pass of half its square sees them
        side = max(MIN_ESTIMATE_SIDE, min(first.shape) // 2)
        readings.insert(0, (2.0, _probe(view(side), 2.0, maps)[0]))
    return consistent_diameter(readings, model_diameter), first, first_d


def auto_scale(
    view: View, model_diameter: float, maps: Maps
) -> tuple[float, float | None, Prediction | None, float | None]:
    """(scale, estimated diameter, full-scale pass, its diameter) for ``diameter="auto"``.

    Estimates within SCALE_TOLERANCE of the model's size keep the image's own scale (and
    the full-scale pass may then serve as the prediction); others resample the image.
    """
    estimate, first, first_d = estimate_diameter(view, model_diameter, maps)
    ratio = None if estimate is None else model_diameter / estimate
    if ratio is not None and not 1 / SCALE_TOLERANCE <= ratio <= SCALE_TOLERANCE:
        return model_diameter / estimate, estimate, None, None
    return 1.0, estimate, first, first_d
