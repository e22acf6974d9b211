"""Fine-tuning a bundled (or any) model on a user's own corrected labels.

The recipe keeps what the base model knows, and hands back a model unless it is worse:
- a band of each image (HOLDOUT_SHARE of its area) is kept out of training; the engine
  users run (``NucleusModel.segment``, their settings) labels it, and AP@0.5 against the
  user's labels scores the base model and the model during training;
- the rest is brought to the model's nucleus size and normalised as at inference;
- batch-norm statistics stay frozen and an L2 pull towards the base weights (L2-SP) limits
  how far the weights move (it stands in for replaying crops of the original training
  data, which the package does not carry);
- the best trained state on the held-out band is kept (early stopping); it is written when
  its score is not below the base model's, or when the caller asks to keep it anyway.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector

from .._device import resolve_device
from .._engine import NucleusModel
from .._model import UNet, load_model, save_weights, user_models_dir
from .._settings import Settings
from .finetune_holdout import Pair, engine_for, prepared, score

CROP, BATCH = 128, 4
DEFAULT_STEPS, DEFAULT_LR, L2SP = 60, 5e-4, 1e-2
EVAL_EVERY, PATIENCE = 20, 2  # score the held-out band every 20 steps; stop after 2 misses
# (step, steps, loss, seconds_left): seconds_left is the most the run can still take
FinetuneProgress = Callable[[int, int, float, float], None]  # may raise to cancel


@dataclass
class FinetuneResult:
    """What fine-tuning gave: the file written (None when none) and the held-out scores."""

    path: Path | None
    base_score: float
    score: float
    steps: int
    seconds: float
    images: int
    nuclei: int
    history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def worse(self) -> bool:
        """True when the fine-tuned model scored below the base on the held-out labels."""
        return self.score < self.base_score

    @property
    def improved(self) -> bool:
        """True when a model at least as good as the base on the held-out labels was written."""
        return self.path is not None and not self.worse

    def model(self, device: str = "auto") -> NucleusModel | None:
        """The fine-tuned model, ready to segment (None when none was written)."""
        return None if self.path is None else NucleusModel(str(self.path), device)


def default_output(weights: str) -> Path:
    """A new file name for a model fine-tuned from ``weights`` in the user's models folder."""
    stem = f"finetuned-{Path(weights).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = user_models_dir()
    path, n = folder / f"{stem}.pt", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}.pt", n + 1
    return path


@dataclass
class Clock:
    """Seconds per training step and per scoring, for an honest time left."""

    step: float = 0.0
    steps: int = 0
    scoring: float = 0.0

    def left(self, step: int, steps: int) -> float:
        """The most seconds the run can still take after ``step`` of ``steps``."""
        scorings = sum(k % EVAL_EVERY == 0 or k == steps for k in range(step, steps + 1))
        return (steps - step) * self.step / max(1, self.steps) + scorings * self.scoring


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


@dataclass
class Trainer:
    """One fine-tuning run: the model, its anchor (the base weights) and the optimiser."""

    model: UNet
    parts: Sequence[Pair]
    device: torch.device
    lr: float
    l2sp: float
    seed: int

    def __post_init__(self) -> None:
        self.anchor = parameters_to_vector(self.model.parameters()).detach().clone()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, foreach=True)
        self.rng = np.random.default_rng(self.seed)

    def step(self) -> float:
        """One optimiser step on a batch of crops; the loss."""
        from .train import loss_fn

        self.model.train()
        _freeze_batch_norm(self.model)
        x, y = _batch(self.rng, self.parts)
        loss = loss_fn(self.model(x.to(self.device)), y.to(self.device))
        pull = ((parameters_to_vector(self.model.parameters()) - self.anchor) ** 2).sum()
        loss = loss + self.l2sp * pull  # one vector: a few large ops, not one per tensor
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def train_best(
    trainer: Trainer,
    steps: int,
    scorer: Callable[[UNet], float],
    clock: Clock,
    progress: FinetuneProgress | None,
) -> tuple[dict, int, float, list[tuple[int, float]]]:
    """Train up to ``steps``; (best state, its step, its held-out score, history)."""
    best: tuple[dict, int, float] = ({}, 0, -math.inf)
    history, misses = [], 0
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        loss = trainer.step()
        clock.step, clock.steps = clock.step + time.perf_counter() - t0, clock.steps + 1
        if progress is not None:
            progress(step, steps, loss, clock.left(step, steps))
        if step % EVAL_EVERY and step != steps:
            continue
        t0 = time.perf_counter()
        current = scorer(trainer.model)
        clock.scoring = time.perf_counter() - t0
        history.append((step, current))
        if current > best[2]:
            best, misses = (copy.deepcopy(trainer.model.state_dict()), step, current), 0
        else:
            misses += 1
            if misses >= PATIENCE:
                break
    return (*best, history)


def _weights_argument(weights: str, base: str | None) -> str:
    if base is None:
        return weights
    warnings.warn(
        "finetune(base=...) is deprecated: use finetune(weights=...)",
        DeprecationWarning,
        stacklevel=3,
    )
    return base


def finetune(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    weights: str = "general",
    steps: int | None = None,
    device: str = "auto",
    output: str | Path | None = None,
    progress: FinetuneProgress | None = None,
    lr: float = DEFAULT_LR,
    l2sp: float = L2SP,
    seed: int = 0,
    *,
    keep_worse: bool = False,
    settings: dict | None = None,
    base: str | None = None,
) -> FinetuneResult:
    """Fine-tune ``weights`` on (image, labels) pairs; write the model unless it is worse.

    ``settings``: the segmentation settings the held-out band is labelled with (those of
    ``segment``; default: its defaults). A model scoring below the base there is written
    only with ``keep_worse``. ``output`` defaults to a new file in ``user_models_dir()``;
    an existing file is never replaced. ``progress(step, steps, loss, seconds_left)`` is
    called every step and may raise to cancel. ``base`` is the former name of ``weights``.
    """
    t0, weights = time.perf_counter(), _weights_argument(weights, base)
    if output is not None and Path(output).exists():
        raise FileExistsError(f"{output} exists: choose a new file for the fine-tuned model")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    s, dev = Settings.of(**(settings or {})), resolve_device(device)
    model = load_model(weights).to(dev)
    diameter = float(model.meta.get("diameter", 16.0))
    parts, bands, nuclei = prepared(images, labels, diameter, s.stain)
    clock = Clock()
    base_score = score(NucleusModel(weights, str(dev)), bands, s)
    clock.scoring = time.perf_counter() - t0
    trainer = Trainer(model, parts, dev, lr, l2sp, seed)
    scorer = lambda m: score(engine_for(m, weights, str(dev)), bands, s)  # noqa: E731
    state, step, best, history = train_best(
        trainer, steps or DEFAULT_STEPS, scorer, clock, progress
    )
    path = None
    if best >= base_score or keep_worse:
        path = Path(output) if output is not None else default_output(weights)
        info = dict(images=len(parts), nuclei=nuclei, holdout_ap50=best)
        info.update(base=weights, finetune_steps=step, base_holdout_ap50=base_score)
        _write(model, state, path, info)
    return FinetuneResult(
        path,
        base_score,
        best,
        step,
        time.perf_counter() - t0,
        len(parts),
        nuclei,
        [(0, base_score), *history],
    )


def _write(model: UNet, state: dict, path: Path, meta: dict) -> None:
    """Write ``state`` into ``path`` with the model's metadata; never over a file."""
    if path.exists():
        raise FileExistsError(f"{path} exists: fine-tuning never replaces a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.load_state_dict(state)
    save_weights(model.cpu().eval(), path, {**model.meta, **meta})
