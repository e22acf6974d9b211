"""Nucleus segmentation with a bundled U-Net, for napari, the shell and scripts."""

from ._api import Prediction, predict, segment_nuclei
from ._device import available_devices

__version__ = "0.1.0"
__all__ = ["Prediction", "__version__", "available_devices", "predict", "segment_nuclei"]
