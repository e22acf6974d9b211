"""``diameter="auto"``: find the nucleus size with network passes at halving scales.

Passes run on central squares at ESTIMATE_SCALES (each half the last) until two agree on
nuclei near the model's size; texture cut into pieces at one scale measures differently at
the next, real nuclei do not (``_scale.consistent_diameter``). A coarser pass looks at a
bigger square (``view_side``), so big nuclei are seen in numbers at a bounded cost. A pass
that fills the dark gaps between the last pass's objects joined separate nuclei into clumps
(``foreground_between``): its reading may confirm the finer one but gives no size itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from ._postprocess import DEFAULT_MIN_SIZE, DEFAULT_THRESHOLD, to_host
from ._prediction import Prediction
from ._scale import (
    Reading,
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
UPSCALE_BELOW = 0.7  # full-scale nuclei under this x the model's size: look at 2x as well
MERGED_SHARE = 0.1  # a coarser pass merged separate nuclei when this share of its foreground
MERGED_CONTRAST = 0.05  # (or more, below FRAGMENTS_SHARE) lies between the finer pass's
# objects, as dark as the background (brightness above the background's / the objects')
FRAGMENTS_SHARE = 0.5  # the finer pass's objects are fragments of the coarser one's (texture,
# cells) when at least this share of the coarser foreground lies outside them

Pass = tuple[np.ndarray, np.ndarray]  # a pass's normalised image on its grid, its foreground


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
    d = typical_diameter(labels, to_host(pred.foreground > DEFAULT_THRESHOLD))
    return None if d is None else d / pred.grid


def _probe(
    crop: np.ndarray, s: float, maps: Maps, model_diameter: float
) -> tuple[float | None, Prediction, Pass]:
    """Diameter (crop px) measured by one pass run on the ``s`` x grid, the pass and its maps.

    The full-scale pass is kept as the prediction only when its nuclei measure near the
    model's size (``auto_scale``): it is labelled as that prediction is, with the model's
    diameter expected. The other passes know nothing of the size yet.
    """
    small = crop if s == 1 else resize(crop, scaled_shape(crop.shape, s))
    out = maps(small)
    pred = Prediction(out[0], out[1], expected_diameter=model_diameter if s == 1 else None)
    d = measured_diameter(pred)
    pred.info["diameter"] = d  # this pass's own measure, kept if it serves as the prediction
    scaled = None if d is None else d * crop.shape[0] / small.shape[0]
    return scaled, pred, (small, to_host(out[0]))


def _central(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    y, x = (a.shape[0] - shape[0]) // 2, (a.shape[1] - shape[1]) // 2
    return a[y : y + shape[0], x : x + shape[1]]


def foreground_between(fine: Pass, coarse_foreground: np.ndarray) -> tuple[float, float] | None:
    """(share, contrast) of a half-scale pass's foreground that the finer pass saw as background.

    The coarser pass (on a central square at least as big) is brought to the finer pass's
    grid. share: the part of its foreground outside the finer objects (and a pixel around
    them); contrast: that part's median brightness above the background's, as a share of the
    finer objects' (0: as dark as the background, 1: as bright as the objects). Clumps of
    separate nuclei read near 0, nuclei whose texture the finer pass cut into pieces well
    above. None when the objects, that part or the background are too small to tell.
    """
    image, fine_fg = fine
    up = resize(np.asarray(coarse_foreground, np.float32), scaled_shape(coarse_foreground.shape, 2))
    shape = min(image.shape[0], up.shape[0]), min(image.shape[1], up.shape[1])
    image, up = _central(image, shape), _central(up, shape)
    objects = _central(fine_fg, shape) > DEFAULT_THRESHOLD
    coarse = up > DEFAULT_THRESHOLD
    between = coarse & ~ndi.binary_dilation(objects)
    background = ~ndi.binary_dilation(coarse, iterations=2)
    if min(objects.sum(), background.sum()) < 10:
        return None
    share = float(between.sum() / max(1, coarse.sum()))
    if between.sum() < 10:
        return share, 0.0
    low, high = np.median(image[background]), np.median(image[objects])
    return share, float((np.median(image[between]) - low) / max(high - low, 1e-6))


def _settled(readings: list[Reading], model_diameter: float, merged: set[float]) -> bool:
    """The last two passes agree on nuclei that the finer one saw near the model's size."""
    if len(readings) < 2 or not agreeing_pairs(readings[-2:], model_diameter, merged):
        return False
    s, d = readings[-2]
    return 1 / SCALE_TOLERANCE <= d * s / model_diameter <= SCALE_TOLERANCE


def estimate_diameter(
    view: View, model_diameter: float, maps: Maps
) -> tuple[float | None, Prediction | None, float | None]:
    """Typical diameter, the full-scale pass and what that pass measured.

    ``view(side)`` gives the image's normalised central square of that side (or all of a
    smaller image): each pass looks at ``view_side`` of its scale. A pass whose foreground
    fills the dark gaps between the last pass's objects merged separate nuclei: its
    reading may confirm the finer one but gives no diameter itself.
    """
    readings: list[Reading] = []
    merged: set[float] = set()
    first, last, fragments = None, None, False
    for s in ESTIMATE_SCALES:
        crop = view(view_side(s))
        if s < 1 and min(crop.shape[:2]) * s < MIN_PROBE_SIDE:
            break
        d, pred, maps_s = _probe(crop, s, maps, model_diameter)
        first = pred if s == 1 else first
        if d is None and any(r[1] is not None for r in readings):
            break  # nuclei seen at a finer scale and gone at this one: coarser sees less
        between = None if d is None or last is None else foreground_between(last, maps_s[1])
        if between is not None:
            share, contrast = between
            if MERGED_SHARE <= share < FRAGMENTS_SHARE and contrast <= MERGED_CONTRAST:
                merged.add(s)
            fragments = fragments or (s == 0.5 and share >= FRAGMENTS_SHARE)
        readings.append((s, d))
        last = None if d is None else maps_s
        if _settled(readings, model_diameter, merged):
            break
    first_d = readings[0][1] if readings and readings[0][0] == 1 else None
    small = first_d is not None and first_d < UPSCALE_BELOW * model_diameter and not fragments
    unsettled = first_d is not None and first_d < model_diameter
    unsettled = unsettled and not agreeing_pairs(readings, model_diameter, merged)
    if first is not None and (small or unsettled):
        # small nuclei measure too big at full scale (and blur into clumps at half scale,
        # so no pair agrees); a 2x pass of half its square sees them. Fragments of bigger
        # objects (texture) measure small too: only when no pair agrees do they get one.
        side = max(MIN_ESTIMATE_SIDE, min(first.shape) // 2)
        readings.insert(0, (2.0, _probe(view(side), 2.0, maps, model_diameter)[0]))
    return consistent_diameter(readings, model_diameter, merged), first, first_d


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
