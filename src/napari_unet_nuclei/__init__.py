"""Nucleus segmentation with a bundled U-Net, for napari, the shell and scripts.

Labels: ``segment_nuclei(image)`` or ``NucleusModel(weights, device).segment(image)``
(which also returns the decisions it made); maps to re-label cheaply: ``predict``.
"""

import importlib

from ._api import Prediction, predict, segment_nuclei
from ._decisions import Decisions
from ._device import available_devices
from ._engine import NucleusModel
from ._prediction import Segmentation
from ._settings import Settings
from ._stack import AmbiguousAxesError, Tracked, track_nuclei
from ._writer import save_labels
from .batch.large import LargeResult, segment_large
from .export.package import export_bioimageio
from .training.finetune import FinetuneResult, finetune

try:  # written from the git tag by setuptools-scm at install time (editable installs too)
    from ._version import version as __version__
except ImportError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
__all__ = [
    "AmbiguousAxesError",
    "Decisions",
    "NucleusModel",
    "Prediction",
    "Segmentation",
    "Settings",
    "__version__",
    "available_devices",
    "export_bioimageio",
    "finetune",
    "predict",
    "save_labels",
    "segment_large",
    "segment_nuclei",
    "track_nuclei",
]
# names of the previous release, kept for one more with a DeprecationWarning: name -> (where
# it lives now, what to use instead)
DEPRECATED = {
    "segment_stack": ("._api", "segment_nuclei(stack, axes=..., channel=..., link_z=...)"),
    "segment_blocks": ("._api", "segment_nuclei(image, out=..., margin=...)"),
    "guess_axes": ("._stack", "segment_nuclei(image, axes=...) (AmbiguousAxesError.guess)"),
    "train": (".training.train", "napari_unet_nuclei.training.train"),
    "evaluate": (".training.evaluate", "napari_unet_nuclei.training.evaluate"),
    "cluster": (".batch.cluster", "napari_unet_nuclei.batch.cluster"),
}
RESULT_TYPES = (FinetuneResult, LargeResult, Tracked)  # importable from here, not in __all__


def __getattr__(name: str):
    """The deprecated names: the module or function, with a DeprecationWarning."""
    if name not in DEPRECATED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    where, instead = DEPRECATED[name]
    import warnings

    warnings.warn(
        f"napari_unet_nuclei.{name} is deprecated: use {instead}", DeprecationWarning, stacklevel=2
    )
    module = importlib.import_module(where, __name__)
    return module if where.endswith(name) else getattr(module, name)
