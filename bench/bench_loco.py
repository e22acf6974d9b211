"""Leave-one-cluster-out: train without one source group, score that group.

For each group of the `train` split (``training.groups.source_group``: size, kind and look), a model
is trained by ``napari-unet-nuclei train`` on the other groups and scored on the held-out
one, so a training recipe is judged on images unlike those it saw. The data folder is not
copied: a scratch folder holds a new index.tsv (the held-out rows as split ``holdout``) and
links to the images and labels.

    python bench/bench_loco.py --data ../shared/data/dsb2018_train --steps 3000 \
        --groups stained-256x320 fluo-360x360 --train-args "--diameter 16 --blur"

A fine-tuning recipe is judged the same way from models that never saw the group:
``--init-models DIR`` starts each group's training from ``DIR/plain-GROUP.pt`` (as
train_parallel.py writes them), and ``--average S`` scores the weight average
``(1 - S) * start + S * trained`` (``napari-unet-nuclei average``) instead of the trained model.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tifffile

from napari_unet_nuclei._model import average_weights, save_weights
from napari_unet_nuclei._scale import typical_diameter
from napari_unet_nuclei.training.dataset import read_index
from napari_unet_nuclei.training.evaluate import evaluate
from napari_unet_nuclei.training.groups import group_sizes, source_group


def train_groups(data: Path) -> dict[str, str]:
    """id -> source group, for the rows of the train split."""
    out = {}
    for e in read_index(data, "train"):
        labels = tifffile.imread(e.labels)
        out[e.id] = source_group(labels.shape, e.kind, typical_diameter(labels))
    return out


def holdout_folder(data: Path, groups: dict[str, str], held: str, root: Path) -> Path:
    """A scratch data folder whose ``holdout`` split is the group ``held``; links, no copies."""
    folder = root / held
    folder.mkdir(parents=True)
    for sub in ("images", "labels"):
        (folder / sub).symlink_to((data / sub).resolve(), target_is_directory=True)
    with (data / "index.tsv").open(newline="") as src, (folder / "index.tsv").open("w") as dst:
        rows = csv.DictReader(src, delimiter="\t")
        out = csv.DictWriter(dst, rows.fieldnames, delimiter="\t", lineterminator="\n")
        out.writeheader()
        for row in rows:
            if groups.get(row["id"]) == held:
                row["split"] = "holdout"
            out.writerow(row)
    return folder


def run_group(
    data: Path, groups: dict[str, str], held: str, args: argparse.Namespace, root: Path
) -> dict:
    """Train without ``held`` (or take ``--models``' model for it) and score it, as a dict."""
    folder = holdout_folder(data, groups, held, root)
    if args.models:  # trained elsewhere, e.g. by train_parallel.py on a GPU
        weights = args.models / f"{args.recipe}-{held}.pt"
        scores = evaluate(folder, "holdout", str(weights), args.device)["all"]
        return {"group": held, "train_s": 0, **_rounded(scores)}
    weights = root / f"{held}.pt"
    start = args.init_models / f"plain-{held}.pt" if args.init_models else None
    cmd = [
        sys.executable,
        "-m",
        "napari_unet_nuclei.cli.app",
        "train",
        "--data",
        str(folder),
        "--steps",
        str(args.steps),
        "--run-dir",
        str(root / f"run-{held}"),
        "--output",
        str(weights),
        *shlex.split(args.train_args),
        *(["--init", str(start)] if start else []),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # own process: no Qt, no GL
    seconds = time.perf_counter() - t0
    if args.average is not None:
        trained, weights = weights, root / f"{held}-average.pt"
        mixed = average_weights(str(start), str(trained), args.average)
        save_weights(mixed, weights, mixed.meta)  # type: ignore[attr-defined]
    scores = evaluate(folder, "holdout", str(weights), args.device)["all"]
    return {"group": held, "train_s": round(seconds), **_rounded(scores)}


def _rounded(scores: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}


def main() -> None:
    """Parse arguments, run the chosen groups, print one line per group and a JSON summary."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--groups", nargs="*", default=None, help="default: every group")
    p.add_argument(
        "--train-args",
        default="--diameter 16 --blur",
        help="further options of `napari-unet-nuclei train` (the recipe)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--keep", type=Path, default=None, help="keep the models in this folder")
    p.add_argument(
        "--models",
        type=Path,
        default=None,
        help="score the models in this folder (RECIPE-GROUP.pt, as train_parallel.py "
        "writes them) instead of training",
    )
    p.add_argument("--recipe", default="plain", help="with --models: the recipe to score")
    p.add_argument(
        "--init-models",
        type=Path,
        default=None,
        help="start each group's training from DIR/plain-GROUP.pt (a model without it)",
    )
    p.add_argument(
        "--average",
        type=float,
        default=None,
        metavar="S",
        help="with --init-models: score (1 - S) * start + S * trained",
    )
    args = p.parse_args()
    if args.average is not None and not args.init_models:
        p.error("--average needs --init-models")
    groups = train_groups(args.data)
    sizes = group_sizes(list(groups.values()))
    print("groups:", ", ".join(f"{g} ({n})" for g, n in sizes.items()), flush=True)
    chosen = args.groups or list(sizes)
    unknown = set(chosen) - set(sizes)
    if unknown:
        p.error(f"unknown groups {sorted(unknown)}; known: {sorted(sizes)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        results = []
        for held in chosen:
            row = run_group(args.data, groups, held, args, root)
            results.append(row)
            print(
                f"{held:<22}{row['images']:>5} images  AP@0.5 {row['AP@0.5']:.3f}  "
                f"AP@0.7 {row['AP@0.7']:.3f}  DSB {row['DSB']:.3f}  ({row['train_s']} s)",
                flush=True,
            )
    recipe = (
        {"models": str(args.models), "recipe": args.recipe}
        if args.models
        else {
            "steps": args.steps,
            "train_args": args.train_args,
            "init_models": str(args.init_models) if args.init_models else None,
            "average": args.average,
        }
    )
    print(json.dumps({**recipe, "results": results}))


if __name__ == "__main__":
    main()
