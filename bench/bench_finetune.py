"""Fine-tune on ONE image of a group of similar images, score the others, before and after.

Groups: ``training.groups.source_group`` (size, kind, nucleus size). The tuning image and the
scored images come from the `val` split where the group has enough of them (never seen in the
general model's training), else from `train` (marked). Scores: pooled AP@0.5 with the
default pipeline (diameter auto), the base model against the model fine-tuning wrote (the
base model's score where none was written: a worse one is not kept).

    python bench/bench_finetune.py --data ../shared/data/dsb2018_train [--groups G ...]

With ``--loco-models DIR``, each group's base model is ``DIR/plain-GROUP.pt``: a model
trained without any image of that group (``bench/train_parallel.py``), so the group is as new
to it as a user's own microscope is to the bundled model. The tissue run's models of today's
recipe without each group serve as well: ``--loco-models runs/tissue-models --loco-prefix A``.

    python bench/bench_finetune.py --time-1mp

times the default fine-tune of the bundled model on one synthetic 1024x1024 image with
2 torch threads (wall and CPU seconds, and the load average before and after: on a shared
machine the wall time says more about the other processes than about fine-tuning).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from napari_unet_nuclei._api import predict
from napari_unet_nuclei._scale import typical_diameter
from napari_unet_nuclei.training.dataset import read_index, read_pair
from napari_unet_nuclei.training.finetune import finetune
from napari_unet_nuclei.training.groups import source_group
from napari_unet_nuclei.training.metrics import match_counts

MIN_IMAGES = 4  # a group needs one image to tune on and at least three to score


def grouped(data: Path, split: str) -> dict[str, list]:
    """Entries of a split by source group, in id order."""
    out = defaultdict(list)
    for e in read_index(data, split):
        _, labels = read_pair(e)
        out[source_group(labels.shape, e.kind, typical_diameter(labels))].append(e)
    return out


def pooled_ap50(entries: list, weights: str, device: str) -> float:
    """Pooled AP@0.5 of the default pipeline over the entries."""
    tp = total = 0
    for e in entries:
        image, gt = read_pair(e)
        c = match_counts(gt, predict(image, device, weights).labels(), (0.5,))[0]
        tp, total = tp + c.tp, total + c.tp + c.fp + c.fn
    return tp / total if total else 1.0


def time_one_megapixel(device: str) -> dict:
    """Wall and CPU seconds of the default fine-tune on one synthetic 1024x1024 image."""
    import torch

    from napari_unet_nuclei._sample_data import synthetic_nuclei

    torch.set_num_threads(2)
    image, labels = synthetic_nuclei((1024, 1024), seed=3)
    load_before, cpu0 = os.getloadavg()[0], resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = finetune([image], [labels], "general", None, device, Path(tmp) / "m.pt")
        wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    steps_run = max(step for step, _ in result.history)
    return dict(
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
        load_before=load_before,
        load_after=os.getloadavg()[0],
        steps_run=steps_run,
        best_step=result.steps,
        base_holdout=round(result.base_score, 3),
        holdout=round(result.score, 3),
        written=result.path is not None,
    )


def main() -> None:
    """Run every group with enough images; print a line per group and a JSON summary."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--time-1mp", action="store_true", help="time one 1 MP fine-tune, then stop")
    p.add_argument("--groups", nargs="*", default=None, help="only these groups")
    p.add_argument("--base", default="general")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--score-images", type=int, default=8, help="most images scored per group")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--loco-models",
        type=Path,
        default=None,
        help="per group, the base model DIR/PREFIX-GROUP.pt trained without that group",
    )
    p.add_argument(
        "--loco-prefix",
        default="plain",
        help="PREFIX of --loco-models: plain (bench/train_parallel.py --plan loco) or A "
        "(today's recipe without the group, from bench/gpu_tissue.sh)",
    )
    args = p.parse_args()
    if args.time_1mp:
        row = time_one_megapixel(args.device)
        print(f"default fine-tune, one 1024x1024 image: {row['wall_s']} s wall", flush=True)
        print(json.dumps(row))
        return
    if args.data is None:
        p.error("--data is needed (or --time-1mp)")
    print(json.dumps(group_rows(args)))


def group_rows(args: argparse.Namespace) -> list[dict]:
    """Fine-tune on one image per group, score the others; a printed line and a row each."""
    val, train = grouped(args.data, "val"), grouped(args.data, "train")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(set(val) | set(train)):
            if args.groups and name not in args.groups:
                continue
            entries, split = (
                (val[name], "val") if len(val[name]) >= MIN_IMAGES else (train[name], "train")
            )
            if len(entries) < MIN_IMAGES:
                continue
            tune, scored = entries[0], entries[1 : 1 + args.score_images]
            base = args.base
            if args.loco_models:
                base = str(args.loco_models / f"{args.loco_prefix}-{name}.pt")
            image, labels = read_pair(tune)
            t0 = time.perf_counter()
            result = finetune(
                [image], [labels], base, args.steps, args.device, Path(tmp) / f"{name}.pt"
            )
            seconds = time.perf_counter() - t0
            written = result.path is not None
            before = pooled_ap50(scored, base, args.device)
            after = pooled_ap50(scored, str(result.path), args.device) if written else before
            rows.append(
                dict(
                    group=name,
                    split=split,
                    scored=len(scored),
                    before=round(before, 3),
                    after=round(after, 3),
                    gain=round(after - before, 3),
                    seconds=round(seconds),
                    steps=result.steps,
                    holdout=[round(result.base_score, 3), round(result.score, 3)],
                    written=written,
                )
            )
            print(
                f"{name:<22}{split:>6}{len(scored):>3} scored  AP@0.5 {before:.3f} -> "
                f"{after:.3f} ({after - before:+.3f})  {seconds:.0f} s, best at step "
                f"{result.steps}, held-out {result.base_score:.3f} -> {result.score:.3f}"
                f"{'' if written else ', worse: not kept'}",
                flush=True,
            )
    gains = [r["gain"] for r in rows]
    print(
        f"mean gain {np.mean(gains):+.3f}, worst {min(gains):+.3f}, "
        f"slowest {max(r['seconds'] for r in rows)} s"
    )
    return rows


if __name__ == "__main__":
    main()
