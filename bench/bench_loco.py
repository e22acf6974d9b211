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

Leave one data set out (``--lodo``): two recipes, each a set of ``train`` arguments with its
own ``--data`` folders, are trained without each held-out set -- a whole folder named in
``--holdout`` (scored on all its images), or each source group of the DSB folder (``--groups``;
the DSB folder is the recipe's folder named like ``--data``) -- with the same steps, and
scored on it. Identical trainings (a recipe without a folder it never used) run once.

    python bench/bench_loco.py --lodo --data ../shared/data/dsb2018_train --steps 2000 \
        --holdout ../shared/data/kromp2020_fluo ../shared/data/bitdepth_nucseg \
        --recipe-a "--data ../shared/data/dsb2018_train --base 10 --diameter 16 --blur" \
        --recipe-b "--data ../shared/data/dsb2018_train:0.6 \
            --data ../shared/data/kromp2020_fluo:0.2 --data ../shared/data/bitdepth_nucseg:0.2 \
            --base 10 --diameter 16 --blur"

With ``--models DIR`` the models come from DIR (``A-HELD.pt``, ``B-HELD.pt``, as
``bench/gpu_tissue.sh`` writes them) instead of being trained here.
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
from napari_unet_nuclei.training.config import DataSource, parse_source
from napari_unet_nuclei.training.dataset import read_index
from napari_unet_nuclei.training.evaluate import evaluate, evaluate_folders
from napari_unet_nuclei.training.groups import group_sizes, source_group

# leave one data set out: today's recipe (the DSB folder) against more folders, same options
DSB = "../shared/data/dsb2018_train"
TODAY = "--base 10 --diameter 16 --blur"
CANDIDATE_DATA = (
    f"--data {DSB}:0.6 --data ../shared/data/kromp2020_fluo:0.2 "
    "--data ../shared/data/bitdepth_nucseg:0.2"
)


def train_groups(data: Path) -> dict[str, str]:
    """id -> source group, for the rows of the train split."""
    out = {}
    for e in read_index(data, "train"):
        labels = tifffile.imread(e.labels)
        out[e.id] = source_group(labels.shape, e.kind, typical_diameter(labels))
    return out


def holdout_folder(data: Path, groups: dict[str, str], held: str, root: Path) -> Path:
    """A scratch data folder whose ``holdout`` split is the group ``held``; links, no copies.

    One made before in ``root`` (``--keep``) is made again in place: the same rows result.
    """
    folder = root / held
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("images", "labels"):
        link = folder / sub
        if not link.is_symlink():
            link.symlink_to((data / sub).resolve(), target_is_directory=True)
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


def data_sources(args: list[str]) -> tuple[list[str], list[DataSource]]:
    """A recipe's ``train`` arguments split into its ``--data`` folders and the others."""
    rest, sources, words = [], [], iter(args)
    for word in words:
        if word == "--data":
            sources.append(parse_source(next(words)))
        elif word.startswith("--data="):
            sources.append(parse_source(word.split("=", 1)[1]))
        else:
            rest.append(word)
    return rest, sources


def without(sources: list[DataSource], held: str, dsb: Path, scratch: Path | None) -> list:
    """The folders less the held-out set: that folder dropped, or DSB swapped for ``scratch``."""
    kept = []
    for source in sources:
        if scratch is None and source.folder.name == held:
            continue
        if scratch is not None and source.folder.resolve() == dsb.resolve():
            source = DataSource(scratch, source.weight)
        kept.append(source)
    return kept


def lodo_plan(
    recipes: dict[str, str], dsb: Path, holdouts: list[Path], groups: list[str], root: Path
) -> list[dict]:
    """Per (held-out set, recipe): the train arguments, the model's name and what to score.

    A training identical to an earlier one (same arguments) shares its model; held-out
    folders go in name order, so the names do not depend on the order they are given in.
    """
    ids = train_groups(dsb) if groups else {}
    targets = [(h.name, h, "all", None) for h in sorted(holdouts, key=lambda h: h.name)]
    for group in groups:
        scratch = holdout_folder(dsb, ids, group, root / "folders")
        targets.append((group, scratch, "holdout", scratch))
    plan, seen = [], {}
    for held, folder, split, scratch in targets:
        for recipe, text in recipes.items():
            rest, sources = data_sources(shlex.split(text))
            kept = without(sources, held, dsb, scratch)
            if not kept:
                raise SystemExit(f"recipe {recipe} has no folder left without {held}")
            args = [w for s in kept for w in ("--data", f"{s.folder}:{s.weight:g}")] + rest
            model = seen.setdefault(tuple(args), f"{recipe}-{held}")
            plan.append(dict(held=held, recipe=recipe, args=args, model=model,
                             folder=folder, split=split))  # fmt: skip
    return plan


def train_plan(plan: list[dict], steps: int, root: Path) -> None:
    """Train every distinct model of the plan here, one after the other, into ``root``."""
    for entry in plan:
        weights = root / f"{entry['model']}.pt"
        if weights.exists():
            continue
        cmd = [sys.executable, "-m", "napari_unet_nuclei.cli.app", "train", *entry["args"],
               "--steps", str(steps), "--run-dir", str(root / f"run-{entry['model']}"),
               "--output", str(weights)]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # own process: no Qt, no GL
        print(f"trained {entry['model']} in {time.perf_counter() - t0:.0f} s", flush=True)


def score_plan(
    plan: list[dict], models: Path, device: str, scores: Path | None = None
) -> list[dict]:
    """Each entry's model scored on its held-out set: one row per (held-out set, recipe).

    A model not trained yet is skipped (said); with ``scores`` (JSON lines), rows scored by
    an earlier run are read from it and new ones appended, so a table can grow run by run.
    """
    done = {}
    if scores is not None and scores.exists():
        for line in scores.read_text().splitlines():
            row = json.loads(line)
            done[row["held"], row["model"]] = row
    rows = []
    for entry in plan:
        weights = models / f"{entry['model']}.pt"
        row = {k: entry[k] for k in ("held", "recipe", "model")}
        if (entry["held"], entry["model"]) in done:
            row = {**done[entry["held"], entry["model"]], "recipe": entry["recipe"]}
        elif not weights.exists():
            print(f"{entry['held']:<22}{entry['recipe']:<4}no {weights.name} yet", flush=True)
            continue
        else:
            found = evaluate_folders([entry["folder"]], entry["split"], str(weights), device)
            row.update(_rounded(next(iter(found.values()))["all"]))
            if scores is not None:
                with scores.open("a") as f:
                    f.write(json.dumps(row) + "\n")
        rows.append(row)
        print(f"{entry['held']:<22}{entry['recipe']:<4}{row['AP@0.5']:.3f}", flush=True)
    return rows


def lodo_table(rows: list[dict], recipes: list[str]) -> str:
    """Held-out set, images, then AP@0.5 and DSB of recipe A, recipe B and B - A.

    Only sets scored with both recipes; then their mean, and the worst B - A of AP@0.5.
    """
    a, b = recipes
    head = f"{'held-out set':<24}{'images':>7}"
    head += "".join(f"{f'{r} {m}':>11}" for m in ("AP@0.5", "DSB") for r in (a, b, f"{b}-{a}"))
    lines, pairs = [head], []
    for held in dict.fromkeys(r["held"] for r in rows):
        by = {r["recipe"]: r for r in rows if r["held"] == held}
        if a in by and b in by:
            pairs.append((held, by[a]["images"], by[a], by[b]))
    for held, images, ra, rb in pairs:
        lines.append(f"{held:<24}{images:>7}" + _cells(ra, rb))
    if pairs:
        mean = {
            r: {m: sum(p[k][m] for p in pairs) / len(pairs) for m in ("AP@0.5", "DSB")}
            for k, r in ((2, a), (3, b))
        }
        lines.append(f"{f'mean of {len(pairs)}':<24}{'':>7}" + _cells(mean[a], mean[b]))
        worst = min(p[3]["AP@0.5"] - p[2]["AP@0.5"] for p in pairs)
        lines.append(f"worst {b}-{a} AP@0.5: {worst:+.3f}")
    return "\n".join(lines)


def _cells(ra: dict, rb: dict) -> str:
    return "".join(
        f"{ra[m]:>11.3f}{rb[m]:>11.3f}{rb[m] - ra[m]:>+11.3f}" for m in ("AP@0.5", "DSB")
    )


def run_lodo(args: argparse.Namespace) -> None:
    """Train (or take from ``--models``) and score both recipes without each held-out set."""
    recipes = {"A": args.recipe_a, "B": args.recipe_b}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        groups = args.groups if args.groups is not None else list(group_sizes(
            list(train_groups(args.data).values())))  # fmt: skip
        plan = lodo_plan(recipes, args.data, args.holdout, groups, root)
        if not args.models:
            train_plan(plan, args.steps, root)
        rows = score_plan(plan, args.models or root, args.device, args.scores)
    print(lodo_table(rows, list(recipes)))
    print(json.dumps({"steps": args.steps, "recipes": recipes, "results": rows}))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="the DSB folder (source groups)")
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
    p.add_argument("--lodo", action="store_true", help="leave one data set out: two recipes")
    p.add_argument(
        "--scores",
        type=Path,
        default=None,
        help="with --lodo: rows already scored are read from this JSON-lines file, new ones "
        "added (models not trained yet are skipped)",
    )
    p.add_argument("--holdout", type=Path, nargs="*", default=[], help="with --lodo: folders")
    p.add_argument("--recipe-a", default=f"--data {DSB} {TODAY}", help="with --lodo")
    p.add_argument("--recipe-b", default=f"{CANDIDATE_DATA} {TODAY}", help="with --lodo")
    return p


def main() -> None:
    """Parse arguments, run the chosen groups, print one line per group and a JSON summary."""
    p = _parser()
    args = p.parse_args()
    if args.average is not None and not args.init_models:
        p.error("--average needs --init-models")
    if args.lodo:
        run_lodo(args)
        return
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
    print(json.dumps({**_recipe(args), "results": results}))


def _recipe(args: argparse.Namespace) -> dict:
    if args.models:
        return {"models": str(args.models), "recipe": args.recipe}
    return {
        "steps": args.steps,
        "train_args": args.train_args,
        "init_models": str(args.init_models) if args.init_models else None,
        "average": args.average,
    }


if __name__ == "__main__":
    main()
