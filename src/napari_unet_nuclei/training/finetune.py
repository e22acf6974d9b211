"""Fine-tuning a bundled (or any) model on a user's own corrected labels.

The recipe keeps what the base model knows and never hands back a worse model:
- images and labels are brought to the model's nucleus size and normalised as at inference;
- a band of each image (HOLDOUT_SHARE of its area) is kept out of training and scores the
  model (AP@0.5) before and during training;
- batch-norm statistics stay frozen, the learning rate is small, and an L2 pull towards the
  base weights (L2-SP) limits how far the weights move (it stands in for replaying crops of
  the original training data, which the package does not carry);
- the best state on the held-out band is kept (early stopping); if it does not beat the base
  model there by MIN_GAIN, no model is written.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._device import resolve_device
from .._engine import NucleusModel
from .._inference import predict_normalized
from .._model import UNet, fused_for_inference, load_model, save_weights, user_models_dir
from .._normalize import normalize_image
from .._postprocess import labels_from_maps
from .._scale import resize, resize_labels, scaled_shape, typical_diameter
from .metrics import match_counts

HOLDOUT_SHARE = 0.25  # of each image's area, never trained on, scores the models
CROP, BATCH = 128, 8
DEFAULT_STEPS = 240
# a model is kept only if the held-out AP@0.5 rises by this much: one or two more nuclei
# found in a small band is noise and did not carry over to other images (bench_finetune)
MIN_GAIN = 0.05
EVAL_EVERY, PATIENCE = 40, 3  # score the held-out band every 40 steps; stop after 3 misses
FinetuneProgress = Callable[[int, int, float], None]  # (step, steps, loss); may raise to cancel


@dataclass
class Pair:
    """One image and its labels at the model's scale: input, targets and instance labels."""

    norm: np.ndarray
    targets: np.ndarray
    labels: np.ndarray


@dataclass
class FinetuneResult:
    """What fine-tuning gave: the file (None when the base model stayed better) and scores."""

    path: Path | None
    base_score: float
    score: float
    steps: int
    seconds: float
    images: int
    nuclei: int
    history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        """True when a model better than the base on the held-out labels was written."""
        return self.path is not None

    def model(self, device: str = "auto") -> NucleusModel | None:
        """The fine-tuned model, ready to segment (None when none was written)."""
        return None if self.path is None else NucleusModel(str(self.path), device)


def default_output(base: str) -> Path:
    """A new file name for a model fine-tuned from ``base`` in the user's models folder."""
    stem = f"finetuned-{Path(base).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = user_models_dir()
    path, n = folder / f"{stem}.pt", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}.pt", n + 1
    return path


def prepare_pair(image: np.ndarray, labels: np.ndarray, model_diameter: float) -> Pair:
    """Normalise the image and bring both to the model's nucleus size."""
    from .dataset import targets

    image, labels = np.asarray(image), np.asarray(labels)
    if image.shape[:2] != labels.shape or labels.ndim != 2:
        raise ValueError(
            f"labels of shape {labels.shape} do not fit an image of shape "
            f"{image.shape}: give 2D labels with the image's height and width"
        )
    if labels.dtype.kind not in "iub" or not labels.any():
        raise ValueError("the labels hold no nuclei (integer ids > 0 expected)")
    diameter = typical_diameter(labels) or model_diameter
    shape = scaled_shape(labels.shape, model_diameter / diameter)
    norm = normalize_image(image)
    if shape != labels.shape:
        norm, labels = resize(norm, shape), resize_labels(labels, shape)
    return Pair(norm, targets(labels), labels)


def split_holdout(pair: Pair) -> tuple[Pair, Pair]:
    """(training part, held-out band): the band is the last HOLDOUT_SHARE of the longer side."""
    axis = int(pair.labels.shape[1] > pair.labels.shape[0])
    n = pair.labels.shape[axis]
    cut = n - max(1, int(round(n * HOLDOUT_SHARE)))

    def part(sl: slice) -> Pair:
        index = (slice(None), sl) if axis else (sl, slice(None))
        return Pair(pair.norm[index], pair.targets[(slice(None), *index)], pair.labels[index])

    return part(slice(0, cut)), part(slice(cut, n))


def score(model: UNet, parts: Sequence[Pair], device: torch.device) -> float:
    """Pooled AP@0.5 of the model's default labels against the parts' labels."""
    fused = fused_for_inference(model).to(device)
    tp = total = 0
    for p in parts:
        maps = predict_normalized(p.norm, fused, device)
        counts = match_counts(p.labels, labels_from_maps(maps[0], maps[1]), (0.5,))[0]
        tp, total = tp + counts.tp, total + counts.tp + counts.fp + counts.fn
    return tp / total if total else 1.0


def _freeze_batch_norm(model: UNet) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def _batch(rng: np.random.Generator, parts: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    from .batches import _sample_crop

    weights = np.array([p.labels.size for p in parts], float)
    picks = rng.choice(len(parts), size=BATCH, p=weights / weights.sum())
    pairs = [
        _sample_crop(rng, parts[i].norm, parts[i].targets, CROP, (0.8, 1.25), blur=True)
        for i in picks
    ]
    return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])


def finetune(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    base: str = "general",
    steps: int | None = None,
    device: str = "auto",
    output: str | Path | None = None,
    progress: FinetuneProgress | None = None,
    lr: float = 1e-4,
    l2sp: float = 1e-2,
    seed: int = 0,
) -> FinetuneResult:
    """Fine-tune ``base`` on (image, labels) pairs; write a model only if it scores better.

    ``output`` defaults to a new file in ``user_models_dir()``; an existing file is never
    replaced. ``progress(step, steps, loss)`` is called every step and may raise to cancel.
    """
    from .train import loss_fn

    t0 = time.perf_counter()
    if output is not None and Path(output).exists():
        raise FileExistsError(f"{output} exists: choose a new file for the fine-tuned model")
    if len(images) != len(labels) or not images:
        raise ValueError("give as many label images as images (at least one pair)")
    dev = resolve_device(device)
    model = copy.deepcopy(load_model(base)).to(dev)
    meta = dict(getattr(load_model(base), "meta", {}))
    pairs = [
        prepare_pair(i, lab, float(meta.get("diameter", 16.0)))
        for i, lab in zip(images, labels, strict=True)
    ]
    train_parts, held = zip(*(split_holdout(p) for p in pairs), strict=True)
    base_score = best_score = score(model, held, dev)
    best_state, best_step, history = copy.deepcopy(model.state_dict()), 0, [(0, base_score)]
    anchor = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng, steps = np.random.default_rng(seed), steps or DEFAULT_STEPS
    misses, step = 0, 0
    for step in range(1, steps + 1):
        model.train()
        _freeze_batch_norm(model)
        x, y = _batch(rng, train_parts)
        loss = loss_fn(model(x.to(dev)), y.to(dev))
        loss = loss + l2sp * sum(
            ((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=True)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step, steps, float(loss.detach()))
        if step % EVAL_EVERY and step != steps:
            continue
        model.eval()
        current = score(model, held, dev)
        history.append((step, current))
        if current > best_score:
            best_score, best_step, misses = current, step, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            misses += 1
            if misses >= PATIENCE:
                break
    nuclei = int(sum(len(np.unique(p.labels)) - 1 for p in pairs))
    path = None
    if best_score >= base_score + MIN_GAIN:
        model.load_state_dict(best_state)
        path = Path(output) if output is not None else default_output(base)
        if path.exists():
            raise FileExistsError(f"{path} exists: fine-tuning never replaces a file")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta.update(
            base=base,
            finetune_steps=best_step,
            images=len(pairs),
            nuclei=nuclei,
            holdout_ap50=best_score,
            base_holdout_ap50=base_score,
        )
        save_weights(model.cpu().eval(), path, meta)
    return FinetuneResult(
        path,
        base_score,
        best_score,
        best_step,
        time.perf_counter() - t0,
        len(pairs),
        nuclei,
        history,
    )
