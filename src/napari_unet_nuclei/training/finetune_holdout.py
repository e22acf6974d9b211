"""The held-out band and the training parts of a fine-tune, and how the band is scored.

The band stays at the image's own scale and is labelled by the engine users run
(``NucleusModel.segment`` at their settings); the rest is brought to the model's nucleus
size and normalised as at inference, for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .._engine import NucleusModel
from .._model import UNet, fused_for_inference
from .._normalize import normalize_image, stain_channel
from .._scale import resize, resize_labels, scaled_shape, typical_diameter
from .._settings import Settings
from .metrics import match_counts

HOLDOUT_SHARE = 0.25  # of each image's area, never trained on, scores the models


@dataclass
class Pair:
    """One image and its labels at the model's scale: input, targets and instance labels."""

    norm: np.ndarray
    targets: np.ndarray
    labels: np.ndarray


def check_pair(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image, labels) as arrays; a clear error when the labels do not fit or are empty."""
    image, labels = np.asarray(image), np.asarray(labels)
    if image.shape[:2] != labels.shape or labels.ndim != 2:
        raise ValueError(
            f"labels of shape {labels.shape} do not fit an image of shape "
            f"{image.shape}: give 2D labels with the image's height and width"
        )
    if labels.dtype.kind not in "iub" or not labels.any():
        raise ValueError("the labels hold no nuclei (integer ids > 0 expected)")
    return image, labels


def _at_model_scale(
    image: np.ndarray, labels: np.ndarray, factor: float, channel: str = "grey"
) -> Pair:
    """Normalise the image (its ``channel``); resample both by ``factor``; the targets."""
    from .dataset import targets

    shape = scaled_shape(labels.shape, factor)
    norm = normalize_image(image, stain=channel)
    if shape != labels.shape:
        norm, labels = resize(norm, shape), resize_labels(labels, shape)
    return Pair(norm, targets(labels), labels)


def prepare_pair(image: np.ndarray, labels: np.ndarray, model_diameter: float) -> Pair:
    """Normalise the image and bring both to the model's nucleus size."""
    image, labels = check_pair(image, labels)
    diameter = typical_diameter(labels) or model_diameter
    return _at_model_scale(image, labels, model_diameter / diameter)


def split_holdout(
    image: np.ndarray, labels: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((image, labels) to train on, held-out band): the last HOLDOUT_SHARE of the longer side.

    Both at the image's own scale: the engine labels the band as users run it.
    """
    axis = int(labels.shape[1] > labels.shape[0])
    n = labels.shape[axis]
    cut = n - max(1, int(round(n * HOLDOUT_SHARE)))

    def part(sl: slice) -> tuple[np.ndarray, np.ndarray]:
        index = (slice(None), sl) if axis else (sl, slice(None))
        return image[index], labels[index]

    return part(slice(0, cut)), part(slice(cut, n))


def prepared(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    model_diameter: float,
    stain: str = "grey",
) -> tuple[list[Pair], list[tuple[np.ndarray, np.ndarray]], int]:
    """(training parts at the model's scale, held-out bands, nuclei in all the labels).

    ``stain``: the setting; each image is learnt from in the channel the engine gives the
    network for the whole image (``stain_channel``), so what is learnt is what is run.
    """
    if len(images) != len(labels) or not images:
        raise ValueError("give as many label images as images (at least one pair)")
    parts, bands, nuclei = [], [], 0
    for image, lab in zip(images, labels, strict=True):
        image, lab = check_pair(image, lab)
        factor = model_diameter / (typical_diameter(lab) or model_diameter)
        train, band = split_holdout(image, lab)
        parts.append(_at_model_scale(*train, factor, stain_channel(image, stain)))
        bands.append(band)
        nuclei += len(np.unique(lab)) - 1
    return parts, bands, nuclei


def engine_for(network: UNet, weights: str, device: str) -> NucleusModel:
    """The engine users run on ``weights``, with ``network``'s current weights in place."""
    engine = NucleusModel(weights, device)
    fused = fused_for_inference(network).to(engine.device, memory_format=torch.channels_last)
    engine.network = fused
    return engine


def score(
    engine: NucleusModel, bands: Sequence[tuple[np.ndarray, np.ndarray]], settings: Settings
) -> float:
    """Pooled AP@0.5 of the engine's labels (``segment`` at ``settings``) on the bands."""
    tp = total = 0
    for image, truth in bands:
        axes = "YX" if image.ndim == 2 else "YXC"
        found = engine.segment(image, axes=axes, settings=settings).labels
        counts = match_counts(truth, found, (0.5,))[0]
        tp, total = tp + counts.tp, total + counts.tp + counts.fp + counts.fn
    return tp / total if total else 1.0
