"""Nucleus segmentation with a bundled U-Net, for napari, the shell and scripts."""

from ._api import Prediction, predict, segment_nuclei
from ._blocks import segment_blocks
from ._device import available_devices
from ._stack import AmbiguousAxesError, guess_axes, segment_stack

__version__ = "0.1.0"
__all__ = [
    "AmbiguousAxesError",
    "Prediction",
    "__version__",
    "available_devices",
    "guess_axes",
    "predict",
    "segment_blocks",
    "segment_nuclei",
    "segment_stack",
]
