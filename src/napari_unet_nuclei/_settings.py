"""Every segmentation setting: one name, one default, validated once (``Settings.of``).

The engine, the command line and the widget all pass these names; nothing else switches
behaviour (no module globals).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

from ._postprocess import DEFAULT_MIN_SIZE, DEFAULT_THRESHOLD

ProgressCallback = Callable[[int, int], None]  # (done, total); raising from it cancels
Diameter = float | str | None
DEFAULT_TILE = 1024
DEFAULT_HALO = 64
# Mirrored pixels past the edge of an image at least THIN_BORDER_FROM px on each side (at
# most the halo; smaller images get the whole halo). A window reaches the halo into its
# neighbour tiles but only this far past the edge: it scored as well as 64 on the 102
# kromp2020_fluo and bitdepth_nucseg train images no bundled model saw (1024-1360 and 512 px)
# and computes a 1024² image on 1056², not 1152². On small images, where the edge cuts a
# larger share of the nuclei, it lost 0.009 AP@0.5 on held-out stained 256x320 images
# (docs/performance.md); their whole halo costs milliseconds.
IMAGE_BORDER = 16
THIN_BORDER_FROM = 512
# Tile overlap past the network's reach changes nothing but the memory a tile takes:
# (tile + 2 halo)² pixels per tile, so a halo of tens of thousands would need tens of GB.
MAX_HALO = 1024
# Tiles per network call: one was faster than several on a CPU and on a GPU, and needs less
# memory (bench/bench_segment.py, bench/bench_gpu.py; figures in docs/performance.md).
DEFAULT_BATCH = 1
DEFAULT_BLOCK = 2048  # block edge (pixels) of images segmented block by block
DEFAULT_BLOCK_THREADS = min(4, os.cpu_count() or 1)  # threads labelling blocks side by side
BIG_IMAGE_PIXELS = 36_000_000  # 6000 x 6000: larger 2D images are segmented block by block
# "auto": fp16 on CUDA (bench/bench_gpu.py compares it with fp32 on val), fp32 elsewhere.
# bf16 is faster on CPUs that have it but lowered the val scores, so it is only used when asked
# for.
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
RENAMED = {"workers": "block_threads"}  # old setting names, accepted for one more release


def parse_diameter(value: object) -> Diameter:
    """``"auto"``, None (the image's own scale) or a positive number of pixels.

    Accepts the words ``auto`` and ``none`` (any case) as the command line gives them.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool):  # True is not a size (float(True) would read it as 1 px)
        raise ValueError(
            f"diameter must be a positive number of pixels, 'auto' or None, got {value!r}"
        )
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"diameter must be a positive number of pixels, 'auto' or None, got {value!r}"
        ) from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(
            f"diameter must be a positive number of pixels, 'auto' or None, got {value!r}"
        )
    return number


def _at_least(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        limits = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {limits}, got {value}")
    return int(value)


def _fraction(name: str, value: object) -> float:
    """A number from 0 to 1 (not a bool, which float() would take as 0 or 1)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must lie between 0 and 1, got {value}")
    return number


STAINS = ("auto", "grey", "haematoxylin")  # network input of colour images (_normalize)


@dataclass(frozen=True)
class Settings:
    """How to segment: label settings, nucleus size, polarity and how to run the network."""

    threshold: float = DEFAULT_THRESHOLD  # foreground cut, 0-1
    split: bool = True  # split touching nuclei
    min_size: int = DEFAULT_MIN_SIZE  # smallest nucleus kept, pixels of the grid labelled
    diameter: Diameter = "auto"  # nucleus diameter (px), "auto", or None: the image's scale
    invert: bool | None = None  # dark nuclei on a bright background; None: detect
    stain: str = "auto"  # network input of colour images: "grey", "haematoxylin"; see _normalize
    tta: bool = False  # average the four flips (4x the network time)
    tile_size: int = DEFAULT_TILE  # network tile edge, pixels
    halo: int = DEFAULT_HALO  # tile overlap, pixels
    batch_size: int = DEFAULT_BATCH  # tiles per network call
    precision: str = "auto"  # see PRECISIONS
    block_size: int = DEFAULT_BLOCK  # block edge for images segmented block by block
    block_threads: int = DEFAULT_BLOCK_THREADS  # threads labelling blocks side by side
    big_image_pixels: int = BIG_IMAGE_PIXELS  # 2D images larger than this go block by block

    def __post_init__(self) -> None:
        t = _fraction("threshold", self.threshold)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.stain not in STAINS:
            raise ValueError(f"stain must be one of {', '.join(STAINS)}, got {self.stain!r}")
        if self.invert not in (None, True, False):
            raise ValueError(f"invert must be True, False or None, got {self.invert!r}")
        checked = dict(
            threshold=t,
            split=bool(self.split),
            tta=bool(self.tta),
            diameter=parse_diameter(self.diameter),
            min_size=_at_least("min_size", self.min_size, 0),
            tile_size=_at_least("tile_size", self.tile_size, 16),
            halo=_at_least("halo", self.halo, 0, MAX_HALO),
            batch_size=_at_least("batch_size", self.batch_size, 1),
            block_size=_at_least("block_size", self.block_size, 64),
            block_threads=_at_least("block_threads", self.block_threads, 1),
            big_image_pixels=_at_least("big_image_pixels", self.big_image_pixels, 1),
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # canonical types, set once at creation

    @classmethod
    def of(cls, **options: object) -> Settings:
        """Settings from keyword arguments; None means the default, unknown names fail."""
        names = [f.name for f in fields(cls)]
        for old, new in RENAMED.items():
            if old in options:
                import warnings

                warnings.warn(
                    f"the setting {old!r} is now {new!r}", DeprecationWarning, stacklevel=3
                )
                options[new] = options.pop(old)
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(
                f"unknown setting {', '.join(map(repr, unknown))}; the settings are: "
                + ", ".join(names)
            )
        given = {k: v for k, v in options.items() if v is not None or k in ("diameter", "invert")}
        return cls(**given)

    def label_options(self) -> dict:
        """What ``Prediction.labels`` takes."""
        return dict(threshold=self.threshold, split=self.split, min_size=self.min_size)

    def as_dict(self) -> dict:
        """Plain values, e.g. for a model card or a log line."""
        return asdict(self)
