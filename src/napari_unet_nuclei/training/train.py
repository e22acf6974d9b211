"""Training the bundled U-Net on the ``train`` split of one or more DSB2018-style folders.

``train(TrainConfig(...))``; the command line builds the config (``cli/train.py``).
Resumable: a checkpoint is written every ``checkpoint_every`` steps to ``run_dir`` and
picked up again by the same command. The random stream of every step depends only on
(seed, step), so a resumed run draws the same crops as an unbroken one.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._model import UNet, UNetConfig, load_model, package_folders, save_weights
from .._outputs import atomic_path, check_training_paths
from .batches import TrainingSet, load_training_set, step_batches
from .config import ConfigError, TrainConfig
from .dataset import data_paths

log = logging.getLogger(__name__)


def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + soft Dice on the foreground, BCE on the normalised distance."""
    fg_logit, fg = logits[:, 0], target[:, 0]
    prob = torch.sigmoid(fg_logit)
    dice = 1 - (2 * (prob * fg).sum() + 1) / (prob.sum() + fg.sum() + 1)
    bce_fg = F.binary_cross_entropy_with_logits(fg_logit, fg)
    bce_dist = F.binary_cross_entropy_with_logits(logits[:, 1], target[:, 1])
    return bce_fg + dice + 2 * bce_dist


def warmup_share(steps: int) -> float:
    """The one-cycle warm-up share: 5 %, unless that gives the scheduler an empty phase.

    torch's OneCycleLR divides by each phase's length: at 20 steps, 5 % makes one of them 0.
    """
    return 0.05 if steps < 1 or abs(0.05 * steps - 1) > 1e-9 else 1.5 / steps


def _save_checkpoint(path: Path, model, opt, sched, step: int, args: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "step": step,
                "args": args,
            },
            tmp,
        )


def _checked_output(config: TrainConfig) -> Path:
    """The weights file to write, checked: never over an input, the package or others' files."""
    inputs = [
        p for p in (config.init, *(q for s in config.data for q in data_paths(s.folder))) if p
    ]
    output = None if config.output is None else str(config.output)
    return check_training_paths(
        output, str(config.run_dir), inputs, package_folders(), config.overwrite
    )


def _optimizer(model: UNet, config: TrainConfig):
    """AdamW under a one-cycle schedule over ``config.steps``."""
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=config.steps, pct_start=warmup_share(config.steps)
    )
    return opt, sched


def _start(model: UNet, opt, sched, config: TrainConfig, ckpt: Path, device) -> int:
    """The first step to run: from the checkpoint when there is one, else from ``init``."""
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        # a resumed run may be given more steps: the cycle is the one built for them (its
        # length and phases), at the step the checkpoint reached
        cycle = ("total_steps", "_schedule_phases")
        sched.load_state_dict({k: v for k, v in state["sched"].items() if k not in cycle})
        sched.last_epoch -= 1
        sched.step()  # the rate of this step on that cycle, for the next optimizer step
        log.info("resumed from %s at step %d", ckpt, int(state["step"]))
        return int(state["step"])
    if config.init:
        init = load_model(str(config.init))
        if init.config != model.config:
            raise ConfigError(
                f"--init weights {config.init} have a different architecture: "
                f"{init.config} vs {model.config} (set --base and --depth to match)"
            )
        model.load_state_dict(init.state_dict())
        log.info("initialised from %s", config.init)
    return 0


def _run_steps(model: UNet, opt, sched, data: TrainingSet, config: TrainConfig, start: int,
               ckpt: Path, device) -> None:  # fmt: skip
    """Steps ``start``... to ``config.steps``, logging and checkpointing on the way."""
    model.train()
    t0, running = time.time(), 0.0
    batches = step_batches(data, config, start)
    for step, (x, y) in zip(range(start, config.steps), batches, strict=True):
        loss = loss_fn(model(x.to(device, non_blocking=True)), y.to(device, non_blocking=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = running + loss.detach()  # no GPU sync per step
        if (step + 1) % config.log_every == 0:
            rate = (step + 1 - start) / (time.time() - t0)
            mean = float(running) / config.log_every
            log.info("step %d/%d loss %.4f  %.2f steps/s", step + 1, config.steps, mean, rate)
            running = 0.0
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            _save_checkpoint(ckpt, model, opt, sched, step + 1, config.as_dict())


def _export(model: UNet, config: TrainConfig, data: TrainingSet, out: Path) -> None:
    """The final half-precision weights and ``done.json`` (the run's settings)."""
    diameter = config.diameter or float(np.median(data.diameters[data.diameters > 0]))
    meta = {
        "train_args": {**config.as_dict(), "output": str(out)},
        "steps": config.steps,
        "config": asdict(model.config),
        "diameter": diameter,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(model.cpu().eval(), out, meta)
    with atomic_path(config.run_dir / "done.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    log.info("wrote weights to %s", out)


def train(config: TrainConfig) -> Path:
    """Run (or resume) training and export the final half-precision weights; their path."""
    out = _checked_output(config)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device(config.device)
    # the data first: a bad folder is reported before anything is created or imported
    # for the optimizer (torch._dynamo)
    t0 = time.time()
    data = load_training_set(config.data, config.kinds)
    log.info("loaded %d training images in %.0f s", len(data.images), time.time() - t0)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    model = UNet(UNetConfig(base=config.base, depth=config.depth)).to(device)
    opt, sched = _optimizer(model, config)
    ckpt = config.run_dir / "checkpoint.pt"
    start = _start(model, opt, sched, config, ckpt, device)
    _run_steps(model, opt, sched, data, config, start, ckpt, device)
    _export(model, config, data, out)
    return out
