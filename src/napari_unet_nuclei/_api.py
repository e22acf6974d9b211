"""The public calls for scripts: thin fronts of ``NucleusModel`` (see ``_engine``).

Each takes ``weights, device`` (in that order, by name) and the settings of ``Settings`` by
name (``threshold``, ``split``, ``min_size``, ``diameter``, ``invert``, ``tta``,
``tile_size``, ``halo``, ``batch_size``, ``precision``, ``block_size``, ``block_threads``,
``big_image_pixels``). Labels always come from ``NucleusModel.segment``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._engine import NucleusModel
from ._prediction import Prediction
from ._settings import ProgressCallback, Settings
from ._stack import DEFAULT_LINK_IOU

__all__ = ["Prediction", "predict", "segment_nuclei"]
# the positional arguments of the previous release, in their order (kept for one release)
OLD_PREDICT_ARGS = ("device", "weights", "diameter", "progress")
OLD_SEGMENT_ARGS = ("threshold", "split", "min_size", "device", "weights", "diameter")


def deprecated(old: str, new: str) -> None:
    """Warn that ``old`` goes in the next release; ``new`` is what to write instead."""
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def _by_name(call: str, args: tuple, names: tuple[str, ...]) -> dict:
    """Arguments passed by position in the previous release, as keywords (with a warning)."""
    if len(args) > len(names):
        raise TypeError(f"{call}() takes the image by position and everything else by name")
    deprecated(f"passing {', '.join(names[: len(args)])} to {call}() by position", "keywords")
    return dict(zip(names, args, strict=False))


def predict(
    image: np.ndarray,
    *args,
    weights: str | None = None,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    **settings,
) -> Prediction:
    """The network's maps of a 2D image (grey or RGB(A)), to re-label cheaply with ``.labels``.

    ``diameter``: the typical nucleus diameter in pixels, ``"auto"`` (default) to estimate
    it, or None to run at the image's own scale. Maps come back on the image's grid, as
    numpy arrays (``NucleusModel.predict`` leaves them on the GPU that made them). For
    labels, use ``segment_nuclei`` (or ``NucleusModel.segment``).
    """
    if args:
        old = _by_name("predict", args, OLD_PREDICT_ARGS)
        weights, device = old.pop("weights", weights), old.pop("device", device)
        progress = old.pop("progress", progress)
        settings = {**old, **settings}
    s = Settings.of(**settings)  # checked before the weights are loaded
    return NucleusModel(weights, device).predict(image, progress, s).on_host()


def segment_nuclei(
    image,
    *args,
    weights: str | None = None,
    device: str = "auto",
    axes: str | None = None,
    channel: int | None = None,
    link_z: bool = False,
    link_iou: float = DEFAULT_LINK_IOU,
    margin: int | None = None,
    progress: ProgressCallback | None = None,
    out=None,
    **settings,
) -> np.ndarray:
    """Label the nuclei of an image: 0 is background, 1..N one nucleus each.

    A 2D grey or RGB(A) image, a stack or time series (``axes`` like ``"ZYX"``, guessed
    when None; ``channel`` picks one of a C axis; ``link_z`` joins Z planes into 3D
    nuclei), or a lazy image bigger than ``big_image_pixels``, labelled block by block
    into ``out`` when given. ``progress(done, total)`` may raise to cancel.
    """
    if args:
        old = _by_name("segment_nuclei", args, OLD_SEGMENT_ARGS)
        weights, device = old.pop("weights", weights), old.pop("device", device)
        settings = {**old, **settings}
    s = Settings.of(**settings)  # checked before the weights are loaded
    layout = dict(axes=axes, channel=channel, link_z=link_z, link_iou=link_iou, margin=margin)
    model = NucleusModel(weights, device)
    return model.segment(image, **layout, progress=progress, out=out, settings=s).labels


def segment_stack(
    stack,
    axes: str | None = None,
    channel: int | None = None,
    link_z: bool = False,
    device: str = "auto",
    weights: str | None = None,
    progress: ProgressCallback | None = None,
    **settings,
) -> np.ndarray:
    """Deprecated: ``segment_nuclei(stack, axes=..., ...)`` does the same."""
    deprecated("segment_stack", "segment_nuclei(stack, axes=..., channel=..., link_z=...)")
    layout = dict(axes=axes, channel=channel, link_z=link_z, progress=progress)
    return segment_nuclei(stack, weights=weights, device=device, **layout, **settings)


def segment_blocks(
    source,
    out=None,
    margin: int | None = None,
    device: str = "auto",
    weights: str | None = None,
    progress: ProgressCallback | None = None,
    **settings,
) -> np.ndarray:
    """Deprecated: ``segment_nuclei(image, out=...)`` does the same.

    It goes block by block past ``big_image_pixels``; ``big_image_pixels=1`` forces it.
    """
    deprecated("segment_blocks", "segment_nuclei(image, out=..., margin=...)")
    settings.setdefault("big_image_pixels", 1)  # always block by block, as before
    run = dict(weights=weights, device=device, progress=progress)
    return segment_nuclei(source, out=out, margin=margin, **run, **settings)
