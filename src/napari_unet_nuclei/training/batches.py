"""The training data: images and targets read once, and the augmented batch of each step."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._normalize import normalize_image
from .._scale import typical_diameter
from .augment import gaussian_blur, stain_jitter, stains
from .augment import strong as strong_augment
from .dataset import read_index, read_pair, targets

KIND_WEIGHTS = {"fluorescence": 0.6, "stained": 0.3, "brightfield": 0.1}
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


def parse_kind_weights(text: str) -> dict[str, float]:
    """``"fluorescence=0.5,stained=0.4"`` -> KIND_WEIGHTS with those kinds replaced."""
    weights = dict(KIND_WEIGHTS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, sep, value = item.partition("=")
        try:
            weights[kind.strip()] = float(value) if sep else float("nan")
        except ValueError:
            weights[kind.strip()] = float("nan")
        if not weights[kind.strip()] >= 0:
            raise ValueError(f"--kind-weights: expected kind=weight >= 0, got {item!r}")
    return weights


def load_training_set(data_dir: Path, kind_weights: dict[str, float] | None = None) -> TrainingSet:
    """Read and prepare the ``train`` split of a DSB2018-style folder.

    Each kind of image is drawn with probability ``kind_weights[kind]`` (default KIND_WEIGHTS).
    """
    kind_weights = KIND_WEIGHTS if kind_weights is None else kind_weights
    entries = read_index(data_dir, "train")
    if not entries:
        raise ValueError(f"No 'train' rows in {data_dir}/index.tsv")
    images, tgts, weights, diams, hed = [], [], [], [], []
    counts = {k: sum(e.kind == k for e in entries) for k in {e.kind for e in entries}}
    for entry in entries:
        image, labels = read_pair(entry)
        images.append(normalize_image(image))
        tgts.append(targets(labels))
        weights.append(kind_weights.get(entry.kind, 0.1) / counts[entry.kind])
        diams.append(typical_diameter(labels) or 0.0)
        coloured = entry.kind == "stained" and image.ndim == 3
        hed.append(np.moveaxis(stains(image), -1, 0).copy() if coloured else None)
    prob = np.asarray(weights) / np.sum(weights)
    return TrainingSet(images, tgts, prob, np.asarray(diams), hed)


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

    def __init__(self, data: TrainingSet, args: argparse.Namespace) -> None:
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
    data: TrainingSet, args: argparse.Namespace, start: int
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
