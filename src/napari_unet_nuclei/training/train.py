"""Training the bundled U-Net on the ``train`` split of a DSB2018-style folder.

Resumable: a checkpoint is written every ``--checkpoint-every`` steps to ``--run-dir``
and picked up again by the same command. The random stream of every step depends
only on (seed, step), so a resumed run draws the same crops as an unbroken one.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._model import UNet, UNetConfig, load_model, package_folders, save_weights
from .._outputs import TRAINED_WEIGHTS, atomic_path, check_training_paths
from .batches import load_training_set, parse_kind_weights, step_batches
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


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) training and export the final half-precision weights."""
    inputs = [p for p in (args.init, *data_paths(args.data)) if p]
    args.output = str(
        check_training_paths(args.output, args.run_dir, inputs, package_folders(), args.overwrite)
    )
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    plain_args = {k: v for k, v in vars(args).items() if k != "func"}
    # the data first: a bad folder is reported before anything is created or imported
    # for the optimizer (torch._dynamo)
    t0 = time.time()
    data = load_training_set(Path(args.data), parse_kind_weights(args.kind_weights))
    log.info("loaded %d training images in %.0f s", len(data.images), time.time() - t0)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = UNetConfig(base=args.base, depth=args.depth)
    model = UNet(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.steps, pct_start=warmup_share(args.steps)
    )
    ckpt, start = run_dir / "checkpoint.pt", 0
    if args.init and not ckpt.exists():
        init = load_model(args.init)
        if init.config != config:
            raise ValueError(
                f"--init weights {args.init} have a different architecture: "
                f"{init.config} vs {config}"
            )
        model.load_state_dict(init.state_dict())
        log.info("initialised from %s", args.init)
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        sched.total_steps = args.steps  # a resumed run may be given more steps
        start = int(state["step"])
        log.info("resumed from %s at step %d", ckpt, start)
    model_diameter = args.diameter or float(np.median(data.diameters[data.diameters > 0]))
    model.train()
    t0, running = time.time(), 0.0
    for step, (x, y) in zip(range(start, args.steps), step_batches(data, args, start), strict=True):
        loss = loss_fn(model(x.to(device, non_blocking=True)), y.to(device, non_blocking=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = running + loss.detach()  # no GPU sync per step
        if (step + 1) % args.log_every == 0:
            rate = (step + 1 - start) / (time.time() - t0)
            log.info(
                "step %d/%d loss %.4f  %.2f steps/s",
                step + 1,
                args.steps,
                float(running) / args.log_every,
                rate,
            )
            running = 0.0
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
            _save_checkpoint(ckpt, model, opt, sched, step + 1, plain_args)
    meta = {
        "train_args": plain_args,
        "steps": args.steps,
        "config": asdict(config),
        "diameter": model_diameter,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(model.cpu().eval(), out, meta)
    with atomic_path(run_dir / "done.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    log.info("wrote weights to %s", out)
    return out


def _share(text: str) -> float:
    """A share in (0, 1], for argparse."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``napari-unet-nuclei train``."""
    p.add_argument("--data", required=True, help="DSB2018-style folder with index.tsv")
    p.add_argument(
        "--output",
        default=None,
        help=f"weights file to write (default: a new {TRAINED_WEIGHTS} here)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --output when it holds weights of an earlier run",
    )
    p.add_argument("--run-dir", default="runs/train", help="checkpoints (resumed from)")
    p.add_argument("--steps", type=int, default=7000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=160)
    p.add_argument("--zoom-min", type=float, default=0.5)
    p.add_argument("--zoom-max", type=float, default=2.0)
    p.add_argument(
        "--diameter",
        type=float,
        default=0.0,
        help="resample every training image so its median nucleus diameter is this "
        "many pixels (0: keep each image's own scale)",
    )
    p.add_argument("--blur", action="store_true", help="also augment with Gaussian blur")
    p.add_argument(
        "--strong",
        action="store_true",
        help="augment for reach: wide zoom (0.2-5x) on 30 %% of crops, uneven "
        "illumination, haze, dim and saturated nuclei, chromatin texture, "
        "defocus and Poisson noise; stain jitter on half the stained crops",
    )
    p.add_argument(
        "--strong-share",
        type=_share,
        default=1.0,
        help="with --strong: the share of crops the --strong chain (texture, dimming, "
        "defocus, illumination, haze, noise, re-normalisation) is applied to (default 1)",
    )
    p.add_argument(
        "--kind-weights",
        default="",
        help="how often each kind of image is drawn, e.g. 'stained=0.45' "
        "(default fluorescence=0.6,stained=0.3,brightfield=0.1)",
    )
    p.add_argument("--init", default=None, help="start from these weights (fine-tuning)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--base", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes preparing batches ahead (0: in the training process)",
    )
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-every", type=int, default=200)
