"""``segment_nuclei`` and ``predict``: the one core the widget, CLI and scripts share."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from ._inference import (
    DEFAULT_BATCH,
    DEFAULT_HALO,
    DEFAULT_TILE,
    ProgressCallback,
    model_on,
    predict_maps,
)
from ._label_blocks import labels_in_blocks, peaks_in_blocks, use_blocks
from ._normalize import normalize_image
from ._postprocess import DEFAULT_MIN_SIZE, DEFAULT_THRESHOLD, labels_from_maps, seed_peaks
from ._scale import (
    Reading,
    agree,
    consistent_diameter,
    resize,
    scaled_shape,
    typical_diameter,
)

Diameter = float | str | None
DEFAULT_MODEL_DIAMETER = 16.0  # nucleus size for weights files that do not store their own
SCALE_TOLERANCE = 1.25  # estimates within this factor of the model's size need no resampling
ESTIMATE_CROP = 1024  # the size-estimating pass looks at most at this central square
ESTIMATE_SCALES = (1.0, 0.5, 0.25, 0.125, 0.0625)  # passes that may run to find the nucleus
# size (each on a grid of at least MIN_PROBE_SIDE): nuclei up to ~250 px fit one of them
MIN_ESTIMATE_SIDE = 32  # no estimating pass on an image smaller than this
MIN_PROBE_SIDE = 64  # no coarser pass below this: too few objects (tissue clumps agree)
UPSCALE_BELOW = 0.6  # full-scale nuclei under this x the model's size: look at 2x as well
COARSE_SEEDS_DIAMETER = 12.0  # nuclei this wide (px) or more: seeds searched at half resolution


@dataclass(frozen=True)
class Prediction:
    """The network's output for one 2D image; re-label it at any threshold cheaply."""

    foreground: np.ndarray
    distance: np.ndarray
    seconds: float = 0.0
    device: str = "cpu"
    info: dict = field(default_factory=dict)
    peak_step: int = 1  # 2 when nuclei are known to be large enough for coarse seed search
    expected_diameter: float | None = None  # nucleus size (px) known before labelling, if any

    @property
    def shape(self) -> tuple[int, ...]:
        """Height and width of the image."""
        return self.foreground.shape

    @property
    def diameter(self) -> float | None:
        """The typical nucleus diameter (pixels) measured on this prediction."""
        return self.info.get("diameter")

    @functools.cached_property
    def peaks(self) -> np.ndarray:
        """Seeds of the split, computed once: they do not depend on the threshold."""
        if use_blocks(self.shape, self.expected_diameter):
            return peaks_in_blocks(self.distance, self.expected_diameter, self.peak_step)
        return seed_peaks(self.distance, step=self.peak_step)

    def labels(
        self, threshold: float | None = None, split: bool = True, min_size: int = DEFAULT_MIN_SIZE
    ) -> np.ndarray:
        """Instance labels (uint16, or uint32 past 65,535 nuclei); no network call."""
        t = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        key = (t, bool(split), int(min_size))
        if self._last[0] != key:  # the size measurement and segment_nuclei ask for the same
            peaks = self.peaks if split else None
            maps = (self.foreground, self.distance, t, split, min_size, peaks)
            big = use_blocks(self.shape, self.expected_diameter)  # post-processed in threads
            self._last[:] = [
                key,
                labels_in_blocks(*maps, self.expected_diameter) if big else labels_from_maps(*maps),
            ]
        return self._last[1].copy()

    @functools.cached_property
    def _last(self) -> list:
        """The latest (settings, labels), so asking twice runs the watershed once."""
        return [None, None]


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        spatial = arr.shape[:2]
    elif arr.ndim == 2:
        spatial = arr.shape
    else:
        raise ValueError(
            f"segment_nuclei takes a 2D grey or RGB(A) image; got shape {arr.shape}. "
            "For stacks and time series use segment_stack(stack, axes=...)."
        )
    if min(spatial) == 0:
        raise ValueError(f"The image is empty (shape {arr.shape}).")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"Unsupported image data type {arr.dtype}.")
    return arr


def trained_diameter(model: object) -> float:
    """The nucleus diameter (px) the weights were trained at, from their metadata."""
    return float(getattr(model, "meta", {}).get("diameter", DEFAULT_MODEL_DIAMETER))


def _as_prediction(
    maps: np.ndarray, device: object = "cpu", diameter: float | None = None
) -> Prediction:
    """A Prediction of raw maps; seeds are searched coarsely when nuclei are known to be large."""
    coarse = diameter is not None and diameter >= COARSE_SEEDS_DIAMETER
    return Prediction(maps[0], maps[1], 0.0, str(device), {}, 2 if coarse else 1, diameter)


def _measured_diameter(pred: Prediction) -> float | None:
    """Median nucleus diameter of the default labels (fragments below the minimum size ignored)."""
    labels = pred.labels(DEFAULT_THRESHOLD, True, DEFAULT_MIN_SIZE)
    return typical_diameter(labels, pred.foreground > DEFAULT_THRESHOLD)


def _probe(crop: np.ndarray, s: float, run: dict) -> tuple[float | None, Prediction]:
    """Diameter (crop px) measured by one pass run and measured on the ``s`` x grid."""
    small = crop if s == 1 else resize(crop, scaled_shape(crop.shape, s))
    # seeds are searched coarsely only on the full-scale pass, the one that may be kept
    pred = _as_prediction(
        predict_maps(small, scale=1.0, **run),
        run["device"],
        COARSE_SEEDS_DIAMETER if s == 1 else None,
    )
    d = _measured_diameter(pred)
    return (None if d is None else d * crop.shape[0] / small.shape[0]), pred


def _settled(readings: list[Reading], model_diameter: float) -> bool:
    """The last two passes agree on nuclei that the finer one saw near the model's size."""
    if len(readings) < 2 or not agree(readings[-2], readings[-1], model_diameter):
        return False
    s, d = readings[-2]
    return 1 / SCALE_TOLERANCE <= d * s / model_diameter <= SCALE_TOLERANCE


def _estimate_diameter(
    crop: np.ndarray, model_diameter: float, run: dict
) -> tuple[float | None, Prediction | None, float | None]:
    """Typical diameter, full-scale pass and what that pass measured.

    Passes run at ESTIMATE_SCALES (each half the last) until two agree on nuclei near the
    model's size, the crop gets too small, or nuclei seen before vanish; the diameter is the
    one successive passes agree on (``_scale.consistent_diameter``).
    """
    readings: list[Reading] = []
    first = None
    for s in ESTIMATE_SCALES:
        if s < 1 and min(crop.shape) * s < MIN_PROBE_SIDE:
            break
        d, pred = _probe(crop, s, run)
        first = pred if s == 1 else first
        if d is None and any(r[1] is not None for r in readings):
            break  # nuclei seen at a finer scale and gone at this one: coarser sees less
        readings.append((s, d))
        if _settled(readings, model_diameter):
            break
    first_d = readings[0][1] if readings and readings[0][0] == 1 else None
    if first_d is not None and first_d < UPSCALE_BELOW * model_diameter:
        # small nuclei measure too big at full scale; a 2x pass of half the crop sees them
        half = _central_crop(crop, max(MIN_ESTIMATE_SIDE, min(crop.shape) // 2))
        readings.insert(0, (2.0, _probe(half, 2.0, run)[0]))
    return consistent_diameter(readings, model_diameter), first, first_d


def auto_scale(
    crop: np.ndarray, model_diameter: float, run: dict
) -> tuple[float, float | None, Prediction | None, float | None]:
    """(scale, estimated diameter, full-scale pass, its diameter) for ``diameter="auto"``.

    Estimates within SCALE_TOLERANCE of the model's size keep the image's own scale.
    """
    estimate, first, first_d = _estimate_diameter(crop, model_diameter, run)
    ratio = None if estimate is None else model_diameter / estimate
    if ratio is not None and not 1 / SCALE_TOLERANCE <= ratio <= SCALE_TOLERANCE:
        return model_diameter / estimate, estimate, None, None
    return 1.0, estimate, first, first_d


def _central_crop(norm: np.ndarray, size: int) -> np.ndarray:
    h, w = norm.shape
    y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return norm[y : y + size, x : x + size]


def _parse_diameter(diameter: Diameter) -> float | str | None:
    if diameter is None or (isinstance(diameter, str) and diameter.lower() == "auto"):
        return "auto" if diameter is not None else None
    value = float(diameter)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"diameter must be a positive number of pixels or 'auto', got {diameter!r}"
        )
    return value


def predict(
    image: np.ndarray,
    device: str = "auto",
    weights: str | None = None,
    diameter: Diameter = "auto",
    tile_size: int = DEFAULT_TILE,
    halo: int = DEFAULT_HALO,
    batch_size: int = DEFAULT_BATCH,
    invert: bool | None = None,
    progress: ProgressCallback | None = None,
    tta: bool = False,
) -> Prediction:
    """Run the U-Net on a 2D image (grey or RGB(A), any numeric dtype).

    ``diameter``: the typical nucleus diameter in pixels, ``"auto"`` to estimate it from a
    first pass, or None to run at the image's own scale. The image is resampled so its
    nuclei match the size the model was trained at; maps come back on the image's grid.
    ``invert=None`` detects dark nuclei on a bright background; ``progress(done, total)``
    is called per batch of tiles and may raise to cancel. ``tta`` averages the four flips
    (4x the time) in the final pass.
    """
    arr = _check_image(image)
    wanted = _parse_diameter(diameter)
    t0 = time.perf_counter()
    model, dev = model_on(device, weights)
    model_diameter = trained_diameter(model)
    norm = normalize_image(arr, invert=invert)
    run = dict(
        model=model, device=dev, tile=tile_size, halo=halo, batch_size=batch_size, progress=progress
    )
    pred, scale, measured, estimate = None, 1.0, None, None
    if float(norm.max()) == float(norm.min()):  # constant image: nothing to find
        pred = _as_prediction(np.zeros((2, *norm.shape), np.float32), dev)
    elif wanted == "auto":
        crop = _central_crop(norm, ESTIMATE_CROP)
        scale, estimate, first, first_d = auto_scale(crop, model_diameter, run)
        if scale == 1.0 and crop.shape == norm.shape and first is not None and not tta:
            pred, measured = first, first_d  # the estimating pass already covered the image
    elif wanted is not None:
        scale = model_diameter / wanted
    if pred is None:
        known = model_diameter / scale if wanted is not None else None  # nuclei px, image grid
        pred = _as_prediction(predict_maps(norm, scale=scale, tta=tta, **run), dev, known)
        measured = _measured_diameter(pred)
    pred.info.update(
        scale=scale,
        model_diameter=model_diameter,
        diameter=measured,
        diameter_setting=wanted,
        estimate=estimate,
    )
    object.__setattr__(pred, "seconds", time.perf_counter() - t0)  # frozen: set once, here
    return pred


def segment_nuclei(
    image: np.ndarray,
    threshold: float | None = None,
    split: bool = True,
    min_size: int = DEFAULT_MIN_SIZE,
    device: str = "auto",
    weights: str | None = None,
    diameter: Diameter = "auto",
    **predict_options,
) -> np.ndarray:
    """Label the nuclei of a 2D image: 0 is background, 1..N one nucleus each."""
    pred = predict(image, device, weights, diameter, **predict_options)
    return pred.labels(threshold, split, min_size)
