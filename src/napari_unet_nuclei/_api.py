"""The public calls for scripts: thin fronts of ``NucleusModel`` (see ``_engine``).

Each takes the settings of ``Settings`` by name (``threshold``, ``split``, ``min_size``,
``diameter``, ``invert``, ``tta``, ``tile_size``, ``halo``, ``batch_size``, ``precision``,
``block_size``, ``workers``, ``big_image_pixels``) plus ``device`` and ``weights``.
"""

from __future__ import annotations

import numpy as np

from ._engine import NucleusModel
from ._prediction import Prediction
from ._settings import Diameter, ProgressCallback, Settings

__all__ = ["Prediction", "predict", "segment_blocks", "segment_nuclei", "segment_stack"]
# what ``NucleusModel.segment`` takes besides the settings: the input's layout and the output
SEGMENT_ARGUMENTS = ("axes", "channel", "link_z", "link_iou", "rgb", "progress", "out")


def predict(
    image: np.ndarray,
    device: str = "auto",
    weights: str | None = None,
    diameter: Diameter = "auto",
    progress: ProgressCallback | None = None,
    **settings,
) -> Prediction:
    """Run the U-Net on a 2D image (grey or RGB(A), any numeric dtype); re-label cheaply.

    ``diameter``: the typical nucleus diameter in pixels, ``"auto"`` to estimate it, or None
    to run at the image's own scale. Maps come back on the image's grid.
    """
    s = Settings.of(diameter=diameter, **settings)  # checked before the weights are loaded
    return NucleusModel(weights, device).predict(image, progress, s)


def segment_nuclei(
    image,
    threshold: float | None = None,
    split: bool = True,
    min_size: int | None = None,
    device: str = "auto",
    weights: str | None = None,
    diameter: Diameter = "auto",
    **settings,
) -> np.ndarray:
    """Label the nuclei of an image: 0 is background, 1..N one nucleus each.

    A 2D grey or RGB(A) image; stacks, time series and big lazy images too (``axes``,
    ``channel``, ``link_z``: see ``NucleusModel.segment``).
    """
    layout = {k: settings.pop(k) for k in SEGMENT_ARGUMENTS if k in settings}
    s = Settings.of(
        threshold=threshold, split=split, min_size=min_size, diameter=diameter, **settings
    )
    return NucleusModel(weights, device).segment(image, settings=s, **layout)


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
    """Label a 2D, 2D+t, Z or multichannel stack plane by plane; ids 1..N over the stack.

    The nucleus size and the polarity are decided once, on the middle plane.
    ``progress(planes done, planes)`` may raise to cancel; it is also called mid-plane.
    """
    s = Settings.of(**settings)
    model = NucleusModel(weights, device)
    return model.segment(stack, axes, channel, link_z, progress=progress, settings=s)


def segment_blocks(
    source,
    out=None,
    margin: int | None = None,
    device: str = "auto",
    weights: str | None = None,
    progress: ProgressCallback | None = None,
    **settings,
) -> np.ndarray:
    """Label a big 2D (or RGB) image block by block into ``out``; returns the labels.

    ``source`` is any array with numpy-style slicing (numpy, memmap, dask, zarr); only a
    few blocks plus margins are read at a time. ``out`` (uint32, same height and width)
    defaults to a numpy array, cast to the smallest label dtype at the end.
    """
    s = Settings.of(**settings)
    return NucleusModel(weights, device).label_blocks(source, out, progress, margin, s)[0]
