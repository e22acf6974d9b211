"""The training data: images and targets read once, and the augmented batch of each step."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._normalize import normalize_image
from .._scale import typical_diameter
from .augment import gaussian_blur, stain_jitter, stains
from .augment import strong as strong_augment
from .config import KIND_WEIGHTS, DataSource, TrainConfig, parse_kind_weights
from .dataset import DataError, read_index, read_pair, targets

__all__ = ["KIND_WEIGHTS", "TrainingSet", "load_training_set", "make_batch", "parse_kind_weights"]
log = logging.getLogger(__name__)

WIDE_ZOOM = (0.2, 5.0)  # with --strong, this share of crops is zoomed over this range
WIDE_ZOOM_SHARE = 0.3
STAIN_JITTER_SHARE = 0.5  # with --strong, this share of stained-image crops is re-coloured


@dataclass
class TrainingSet:
    """Normalised images, (2, H, W) targets, sampling probabilities and nucleus diameters.

    ``stains``: per image, its (3, H, W) stain amounts when it is a stained colour image
    (for the stain jitter of ``--strong``), else None.
    """

    images: list[np.ndarray]
    targets: list[np.ndarray]
    prob: np.ndarray
    diameters: np.ndarray
    stains: list[np.ndarray | None] | None = None

    def zoom_bases(self, diameter: float) -> np.ndarray:
        """Per image, the zoom that brings its nuclei to ``diameter`` (1 when 0 or unknown)."""
        if diameter <= 0:
            return np.ones(len(self.images))
        return np.where(self.diameters > 0, diameter / np.maximum(self.diameters, 1e-6), 1.0)


def _read_folder(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray], list, list, list]:
    """The ``train`` split of one data folder: images, targets, stains, diameters and kinds."""
    images, tgts, hed, diams, kinds = [], [], [], [], []
    for entry in read_index(folder, "train"):
        image, labels = read_pair(entry)
        images.append(normalize_image(image))
        tgts.append(targets(labels))
        coloured = entry.kind == "stained" and image.ndim == 3
        hed.append(np.moveaxis(stains(image), -1, 0).copy() if coloured else None)
        diams.append(typical_diameter(labels) or 0.0)
        kinds.append(entry.kind)
    return images, tgts, hed, diams, kinds


def sampling_weights(
    kinds: list[str], kind_weights: dict[str, float], folder: str = "the data folder"
) -> np.ndarray:
    """Per image of one folder, its probability: each kind drawn by its weight, shares sum to 1.

    A kind not in ``kind_weights`` gets 0.1. A folder whose kinds all weigh 0 is refused.
    """
    counts = {k: kinds.count(k) for k in set(kinds)}
    weights = np.array([kind_weights.get(k, 0.1) / counts[k] for k in kinds])
    if not weights.sum() > 0:
        raise DataError(f"{folder}: every kind it holds ({', '.join(sorted(counts))}) weighs 0")
    return weights / weights.sum()


def load_training_set(
    sources: Sequence[DataSource] | Path | str, kind_weights: dict[str, float] | None = None
) -> TrainingSet:
    """Read and prepare the ``train`` split of one or more DSB2018-style folders.

    Each folder gives weight / (sum of weights) of the crops; within a folder each kind of
    image is drawn with probability ``kind_weights[kind]`` (default KIND_WEIGHTS).
    """
    if isinstance(sources, str | Path):
        sources = [DataSource(Path(sources))]
    kind_weights = KIND_WEIGHTS if kind_weights is None else kind_weights
    total = sum(s.weight for s in sources)
    images, tgts, hed, diams, prob = [], [], [], [], []
    for source in sources:
        part = _read_folder(source.folder)
        images += part[0]
        tgts += part[1]
        hed += part[2]
        diams += part[3]
        share = source.weight / total
        prob.extend(sampling_weights(part[4], kind_weights, str(source.folder)) * share)
        log.info(
            "%s: %d training images, %.0f %% of the crops", source.folder, len(part[0]), 100 * share
        )
    return TrainingSet(images, tgts, np.asarray(prob), np.asarray(diams), hed)


def _sample_crop(
    rng: np.random.Generator,
    image: np.ndarray,
    tgt: np.ndarray,
    crop: int,
    zoom: tuple[float, float],
    base: float = 1.0,
    blur: bool = False,
    strong: float = 0.0,
    hed: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented crop.

    Random zoom (times ``base``), position, flips, rotation, intensity, blur and noise.
    ``strong`` (0 off; True or 1: every crop) adds, for a share of crops, a zoom of WIDE_ZOOM
    and the stain jitter of stained images (``hed``: their stain amounts), and the
    ``augment`` chain for that share of crops.
    """
    if strong and rng.random() < WIDE_ZOOM_SHARE:
        zoom = WIDE_ZOOM
    z = base * float(np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]))))
    size = max(8, int(round(crop / z)))
    recolour = strong and hed is not None and rng.random() < STAIN_JITTER_SHARE
    layers = [image[None], tgt, *([hed] if recolour else [])]
    h, w = image.shape
    pad = ((0, 0), (0, max(0, size - h)), (0, max(0, size - w)))
    if pad[1][1] or pad[2][1]:  # targets mirrored alike: nuclei stay labelled
        layers = [np.pad(a, pad, mode="reflect") for a in layers]
        h, w = layers[0].shape[-2:]
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    stack = np.concatenate([a[:, y : y + size, x : x + size] for a in layers])
    t = torch.from_numpy(np.ascontiguousarray(stack))[None]
    if size != crop:
        t = F.interpolate(t, size=(crop, crop), mode="bilinear", align_corners=False)
    t = t[0]
    if rng.random() < 0.5:
        t = t.flip(-1)
    t = torch.rot90(t, int(rng.integers(4)), dims=(-2, -1))
    img, tg = t[:1], t[1:3]
    tg[0] = (tg[0] > 0.5).float()
    if recolour:
        img = stain_jitter(t[3:], rng)
    if strong and (strong >= 1 or rng.random() < strong):  # no extra draw at 1: same batches
        img = strong_augment(img, tg[0], rng)
    if blur and rng.random() < 0.25:
        img = gaussian_blur(img, rng.uniform(0.5, 1.5))
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-0.15, 0.15)
    img = img.clamp(min=0) ** rng.uniform(0.7, 1.5)
    noise = torch.from_numpy(rng.standard_normal(img.shape, dtype=np.float32))
    img = img + noise * rng.uniform(0, 0.06)
    return img, tg


def make_batch(
    step: int,
    seed: int,
    data: TrainingSet,
    batch: int,
    crop: int,
    zoom: tuple[float, float],
    diameter: float = 0.0,
    blur: bool = False,
    strong: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of a given step; depends only on (seed, step). ``strong``: see _sample_crop."""
    rng = np.random.default_rng([seed, step])
    picks = rng.choice(len(data.images), size=batch, p=data.prob)
    bases = data.zoom_bases(diameter)
    hed = data.stains or [None] * len(data.images)
    pairs = [
        _sample_crop(
            rng, data.images[i], data.targets[i], crop, zoom, bases[i], blur, strong, hed[i]
        )
        for i in picks
    ]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


class _StepBatches(torch.utils.data.Dataset):
    """``make_batch`` by step number, so worker processes can prepare batches ahead."""

    def __init__(self, data: TrainingSet, args: TrainConfig) -> None:
        self.data, self.args = data, args

    def __len__(self) -> int:
        return self.args.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.args
        return make_batch(
            step,
            a.seed,
            self.data,
            a.batch,
            a.crop,
            (a.zoom_min, a.zoom_max),
            a.diameter,
            a.blur,
            float(a.strong) * getattr(a, "strong_share", 1.0),
        )


def step_batches(
    data: TrainingSet, args: TrainConfig, start: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of steps ``start``...; made by ``args.workers`` processes if > 0.

    Each batch depends only on (seed, step), so the worker count never changes the result.
    """
    batches = _StepBatches(data, args)
    if args.workers <= 0:
        return (batches[step] for step in range(start, args.steps))
    loader = torch.utils.data.DataLoader(
        batches,
        batch_size=None,
        num_workers=args.workers,
        sampler=range(start, args.steps),
        prefetch_factor=4,
        pin_memory=torch.device(args.device).type == "cuda",
    )
    return iter(loader)
