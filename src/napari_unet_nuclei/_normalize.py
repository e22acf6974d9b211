"""Bring any 2D microscopy image to the network's input.

One float32 channel, nuclei bright on dark, intensities scaled by robust percentiles. The
channel is the grey image (colour averaged), or for stained tissue rich in eosin (H&E) the
haematoxylin amount of its colours (``stain_channel``), in which nuclei stand out as in
fluorescence.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ._settings import STAINS
from ._tiling import read_region

LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.8


def is_colour(arr: np.ndarray) -> bool:
    """True for a 2D RGB or RGBA image (its last axis holds 3 or 4 channels)."""
    return arr.ndim == 3 and arr.shape[-1] in (3, 4)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Return a 2D float32 view of a grey, RGB or RGBA image (alpha ignored)."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if is_colour(arr):
        arr = arr[..., :3].astype(np.float32).mean(axis=-1)
    if arr.ndim != 2:
        raise ValueError(f"Expected a 2D grey or RGB(A) image, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


SAMPLE_PIXELS = 2_000_000  # the percentiles are fitted on at most this many pixels
# mean eosin amount (``skimage.color.rgb2hed``, channel 1) above which a stained image is
# given to the network as its haematoxylin amount: in H&E the pink stroma is as dark as the
# nuclei once averaged to grey (measured: weights/README.md, *Stained images*)
EOSIN_RICH = 0.045


def stain_amount(image: np.ndarray, stain: int = 0, white: float | None = None) -> np.ndarray:
    """One stain's amount in an RGB(A) image, float32: 0 haematoxylin, 1 eosin, 2 DAB.

    ``skimage.color.rgb2hed``'s unmixing (its ``hed_from_rgb`` matrix on the optical
    densities), one channel only and through a lookup table for 8- and 16-bit images (about
    10x faster). ``white``: the value of unstained light (default ``full_scale``); the
    parts of one image must share it, or their amounts differ.
    """
    from skimage.color import hed_from_rgb

    rgb = np.asarray(image)[..., :3]
    white = full_scale(rgb) if white is None else white
    if rgb.dtype in (np.uint8, np.uint16) and white == np.iinfo(rgb.dtype).max:
        od = _density_table(rgb.dtype.itemsize)
        channels = [od[rgb[..., c]] for c in range(3)]
    else:
        fraction = np.clip(np.nan_to_num(rgb.astype(np.float32)) / np.float32(white), 0.0, 1.0)
        channels = [_optical_density(fraction[..., c]) for c in range(3)]
    weights = hed_from_rgb[:, stain].astype(np.float32)
    out = channels[0] * weights[0] + channels[1] * weights[1] + channels[2] * weights[2]
    return np.maximum(out, 0.0, out=out)


def full_scale(rgb: np.ndarray) -> float:
    """Unstained light in an image's values: the type's maximum, or for floats 1 (max if over)."""
    if rgb.dtype.kind in "ui":
        return float(np.iinfo(rgb.dtype).max)
    top = float(np.nanmax(rgb)) if rgb.size else 1.0
    return max(top, 1.0) if np.isfinite(top) else 1.0


@functools.lru_cache(maxsize=2)
def _density_table(itemsize: int) -> np.ndarray:
    """The optical density of every value of an 8- or 16-bit channel."""
    top = (1 << (8 * itemsize)) - 1
    return _optical_density(np.arange(top + 1, dtype=np.float64) / top)


def _optical_density(fraction: np.ndarray) -> np.ndarray:
    """log(transmitted fraction) on rgb2hed's scale: 0 for white, 1 at its floor of 1e-6."""
    return (np.log(np.maximum(fraction, 1e-6)) / np.log(1e-6)).astype(np.float32)


def stain_channel(sample: np.ndarray, stain: str = "auto") -> str:
    """``"grey"`` or ``"haematoxylin"``: what the network is given of this image.

    ``stain="auto"`` picks the haematoxylin amount for a colour image of a stained slide
    (coloured and light: ``_coloured_and_light``) whose mean eosin amount is at least
    EOSIN_RICH; grey images are always grey.
    """
    if stain not in STAINS:
        raise ValueError(f"stain must be one of {', '.join(STAINS)}, got {stain!r}")
    if stain == "grey" or not is_colour(sample) or sample.dtype == bool:
        return "grey"
    if stain == "haematoxylin":
        return stain
    step = max(1, max(sample.shape[:2]) // 512)
    rgb = np.asarray(sample)[::step, ::step, :3]
    if not _coloured_and_light(rgb):
        return "grey"
    eosin = stain_amount(rgb, 1)
    return "haematoxylin" if float(eosin.mean()) >= EOSIN_RICH else "grey"


LIGHT = 0.35  # median brightness (share of full scale) of a stained slide; fluorescence: darker


def _coloured_and_light(rgb: np.ndarray) -> bool:
    """True for coloured pixels on a light image: a stained slide.

    Whether or not a bright background shows (tissue filling the frame has none, so
    ``looks_stained`` misses it); never a fluorescence composite, which is mostly dark.
    """
    arr = np.nan_to_num(rgb.astype(np.float32))
    if arr.size == 0:
        return False
    full = full_scale(rgb)
    chroma = float(np.median(arr.max(axis=-1) - arr.min(axis=-1))) / full
    light = float(np.median(arr.mean(axis=-1))) / full
    return chroma > STAINED_CHROMA and light >= LIGHT


def network_channel(image: np.ndarray, channel: str, white: float | None = None) -> np.ndarray:
    """The grey image or its haematoxylin amount (``channel``), 2D float32.

    ``white``: see ``stain_amount``.
    """
    arr = np.asarray(image)
    if channel == "haematoxylin" and is_colour(arr):
        return stain_amount(arr, 0, white)
    return to_grey(arr)


@dataclass(frozen=True)
class Normalization:
    """Intensities mapped so ``low``/``high`` become 0/1, inverted for dark nuclei.

    ``channel``: what is scaled, the grey image or its haematoxylin amount
    (``stain_channel``), unmixed with the whole image's ``white`` (``full_scale``).
    """

    low: float
    high: float
    invert: bool
    channel: str = "grey"
    white: float | None = None

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Float32 network input (NaN/inf become 0 before scaling); a new array."""
        grey = network_channel(image, self.channel, self.white)
        finite = np.isfinite(grey)
        if not finite.all():
            grey = np.where(finite, grey, 0.0).astype(np.float32)
        if self.high - self.low < 1e-6:
            norm = np.zeros(grey.shape, np.float32)
        else:
            norm = (grey - np.float32(self.low)) / np.float32(self.high - self.low)
            norm = norm.astype(np.float32, copy=False)
        return 1.0 - norm if self.invert else norm


def _sample(source, pixels: int) -> np.ndarray:
    """A strided subsample of at most about ``pixels`` pixels (numpy, dask or zarr)."""
    h, w = source.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w / pixels)))
    return read_region(source, (slice(None, None, step), slice(None, None, step)))


def fit_normalization(
    source,
    invert: bool | None = None,
    low: float = LOW_PERCENTILE,
    high: float = HIGH_PERCENTILE,
    pixels: int = SAMPLE_PIXELS,
    stain: str = "grey",
) -> Normalization:
    """The one normalisation rule: percentiles of (a strided sample of) the whole image.

    ``invert=None`` decides the polarity: nuclei are dark when the median lies in the upper
    half of the low-high range (a bright background: brightfield, stains). ``stain``: the
    channel scaled (``stain_channel``); the haematoxylin amount is never inverted.
    """
    sample = np.asarray(_sample(source, pixels))
    channel = stain_channel(sample, stain)
    white = None
    if channel == "haematoxylin":
        invert = False  # nuclei are where the haematoxylin is: bright
        white = full_scale(sample[..., :3])  # one scale for every part of the image
    grey = network_channel(sample, channel, white)
    values = grey[np.isfinite(grey)]
    if values.size == 0:
        return Normalization(0.0, 0.0, bool(invert), channel, white)
    lo, mid, hi = (float(v) for v in np.percentile(values, [low, 50.0, high]))
    if invert is None:
        invert = hi - lo >= 1e-6 and (mid - lo) / (hi - lo) > 0.5
    return Normalization(lo, hi, bool(invert), channel, white)


def percentile_normalize(
    grey: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE
) -> np.ndarray:
    """Map the low/high percentiles to 0/1 (never inverted); NaN/inf become 0. A new array."""
    return fit_normalization(grey, invert=False, low=low, high=high).apply(grey)


def normalize_image(
    image: np.ndarray, invert: bool | None = None, stain: str = "grey"
) -> np.ndarray:
    """Percentile-normalised, inverted when nuclei are dark (auto if ``invert`` is None).

    Grey by default (training reads its folders so); ``stain="auto"`` as the engine does.
    """
    return fit_normalization(image, invert, stain=stain).apply(image)


STAINED_CHROMA = 0.05  # median colourfulness (channel spread / intensity range) of a stain


def looks_stained(image: np.ndarray) -> bool:
    """True for a colour image of stained tissue: a bright background and coloured pixels.

    On the DSB2018 set this picks 104 of 107 stained images and none of the 557 fluorescence
    and brightfield ones (grey, or dark-background colour composites, are never picked).
    """
    arr = np.asarray(image)
    if not is_colour(arr) or arr.dtype == bool:
        return False
    step = max(1, max(arr.shape[:2]) // 512)
    rgb = arr[::step, ::step, :3].astype(np.float32)
    finite = rgb[np.isfinite(rgb).all(axis=-1)]
    if finite.size == 0:
        return False
    lo, hi = np.percentile(finite, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if hi - lo < 1e-6:
        return False
    chroma = float(np.median(finite.max(axis=-1) - finite.min(axis=-1))) / float(hi - lo)
    return chroma > STAINED_CHROMA and fit_normalization(rgb).invert
