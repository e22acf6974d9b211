"""Nucleus segmentation with a bundled U-Net, for napari, the shell and scripts."""

from ._api import Prediction, predict, segment_blocks, segment_nuclei, segment_stack
from ._device import available_devices
from ._engine import NucleusModel
from ._settings import Settings
from ._stack import AmbiguousAxesError, Tracked, guess_axes, track_nuclei
from .batch.large import LargeResult, segment_large
from .export.package import export_bioimageio
from .training.finetune import FinetuneResult, finetune

try:  # written from the git tag by setuptools-scm at install time (editable installs too)
    from ._version import version as __version__
except ImportError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
__all__ = [
    "AmbiguousAxesError",
    "Prediction",
    "__version__",
    "FinetuneResult",
    "LargeResult",
    "NucleusModel",
    "Settings",
    "available_devices",
    "export_bioimageio",
    "finetune",
    "guess_axes",
    "predict",
    "segment_blocks",
    "segment_large",
    "segment_nuclei",
    "segment_stack",
    "track_nuclei",
    "Tracked",
]
