"""``napari-unet-nuclei train``: the options, turned into a ``TrainConfig`` and run.

Data: ``--data DIR[:WEIGHT]`` (repeatable) or ``--recipe FILE.toml``; each folder's share of
the crops is its weight over the sum of the weights (default 1 each).
"""

from __future__ import annotations

import argparse
import sys

from .common import one_line

RECIPE_EXAMPLE = """\
recipe file (TOML; relative folders are read from the recipe's own folder):
  [[data]]
  folder = "../shared/data/dsb2018_train"
  weight = 0.7
  [[data]]
  folder = "../shared/data/kromp2020_fluo"
  weight = 0.3
  [kinds]            # optional; the others keep their defaults
  stained = 0.45
"""


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Where the training images come from, and how often each is drawn."""
    from .._outputs import TRAINED_WEIGHTS

    p.add_argument(
        "--data",
        action="append",
        metavar="DIR[:WEIGHT]",
        help="DSB2018-style folder with index.tsv (its train split); repeat for several. "
        "WEIGHT: the folder's share of the crops relative to the others (default 1)",
    )
    p.add_argument(
        "--recipe", metavar="FILE", default=None, help="a TOML file of folders, weights and kinds"
    )
    p.add_argument(
        "--kind-weights",
        default="",
        help="how often each kind of image is drawn within a folder, e.g. 'stained=0.45' "
        "(default fluorescence=0.6,stained=0.3,brightfield=0.1)",
    )
    p.add_argument(
        "--output", default=None, help=f"weights file to write (default: a new {TRAINED_WEIGHTS})"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output when it holds an earlier run's"
    )
    p.add_argument("--run-dir", default="runs/train", help="checkpoints (resumed from)")
    p.add_argument("--init", default=None, help="start from these weights (fine-tuning)")


def _add_augment_arguments(p: argparse.ArgumentParser) -> None:
    """Crops and their augmentation."""
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
        type=float,
        default=1.0,
        help="with --strong: the share of crops the --strong chain is applied to (default 1)",
    )


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The network, the optimiser and how the run is carried out."""
    p.add_argument("--steps", type=int, default=7000)
    p.add_argument("--batch", type=int, default=8)
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``napari-unet-nuclei train``."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = RECIPE_EXAMPLE
    _add_data_arguments(p)
    _add_augment_arguments(p)
    _add_run_arguments(p)


SAME_NAMES = (
    "output", "overwrite", "run_dir", "steps", "batch", "crop", "zoom_min", "zoom_max",
    "diameter", "blur", "strong", "strong_share", "init", "lr", "base", "depth", "seed",
    "device", "threads", "workers", "log_every", "checkpoint_every",
)  # fmt: skip


def config_from_args(args: argparse.Namespace):
    """The ``TrainConfig`` the options give; ``ConfigError`` for options that cannot work."""
    from ..training.config import (
        ConfigError,
        TrainConfig,
        parse_kind_weights,
        parse_source,
        read_recipe,
    )

    if bool(args.data) == bool(args.recipe):
        raise ConfigError("give the training data as --data DIR (repeatable) or --recipe FILE")
    if args.recipe:
        sources, kinds = read_recipe(args.recipe)
    else:
        sources, kinds = tuple(parse_source(text) for text in args.data), None
    kinds = parse_kind_weights(args.kind_weights, kinds)
    options = {name: getattr(args, name) for name in SAME_NAMES}
    return TrainConfig(data=sources, kind_weights=tuple(kinds.items()), **options)


def run(args: argparse.Namespace) -> int:
    """Train; exit 2 with one line for bad options, a bad data folder or an unsafe output."""
    from .._outputs import UnsafeOutputError
    from ..training.config import ConfigError
    from ..training.dataset import DataError
    from ..training.train import train

    try:
        train(config_from_args(args))
    except (ConfigError, DataError, UnsafeOutputError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0
