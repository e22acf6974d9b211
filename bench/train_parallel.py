"""Many trainings side by side on one GPU, sized to a time budget (issue 12's GPU session).

Runs, all at once, ``napari-unet-nuclei train`` for
- each leave-one-cluster-out group (``bench_loco.py``) and each recipe in RECIPES: trained on
  the ``train`` split without that group, to be scored on it later by
  ``bench_loco.py --models DIR``;
- each candidate in CANDIDATES, on the whole ``train`` split.

Every job gets the same number of steps. It is fixed by a short calibration: all jobs run
``--calibration`` steps side by side, their steady rate (steps/s between the middle and the end of
that run) gives the steps that fit in what is left of ``--seconds``. Jobs still running at
the end are stopped and reported. The weights, the logs and a JSON summary are packed into
``--out`` as tars of at most 16 MiB each (plain.tar, strong.tar, candidates.tar, logs.tar).

Measured on one H200 (2026-11-27): 19 jobs side by side ran at 5.5 steps/s each, about 105
steps/s in all, the same total as 2 jobs at 52 steps/s each; the GPU does not run small
trainings of separate processes at once. Fewer jobs with more steps each buy more.

    python bench/train_parallel.py --data DATA --out OUT --seconds 540
    python bench/train_parallel.py --data DATA --out OUT --seconds 540 --at-once 2 \
        --only all-mild ft-mild

``--only`` picks jobs by name (``plain-GROUP``, ``strong-GROUP``, the CANDIDATES);
``--at-once K`` runs them in waves of K, each wave getting its share of the time.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_loco import TODAY, holdout_folder, lodo_plan, train_groups  # noqa: E402

from napari_unet_nuclei.training.groups import group_sizes  # noqa: E402

COMMON = "--batch 16 --crop 160 --threads 1 --log-every 50 --checkpoint-every 500"
RECIPES = {  # leave-one-cluster-out: the current recipe against --strong
    "plain": "--base 10 --diameter 16 --blur --workers 1",
    "strong": "--base 10 --diameter 16 --blur --strong --workers 2",
}
CANDIDATES = {  # on the whole train split
    "all-plain": "--base 10 --diameter 16 --blur --workers 1",
    "all-strong": "--base 10 --diameter 16 --blur --strong --workers 2",
    "all-strong16": "--base 16 --diameter 16 --blur --strong --workers 2",
    "ft-strong": "--base 10 --diameter 16 --zoom-min 0.75 --zoom-max 1.33 --blur --strong "
    "--lr 3e-4 --init weights/unet_nuclei.pt --workers 2",
    "ft-strong-lo": "--base 10 --diameter 16 --zoom-min 0.75 --zoom-max 1.33 --blur --strong "
    "--lr 1e-4 --init weights/unet_nuclei.pt --workers 2",
    # milder: the --strong chain on 30 % of the crops (not yet run)
    "all-mild": "--base 10 --diameter 16 --blur --strong --strong-share 0.3 --workers 2",
    "ft-mild": "--base 10 --diameter 16 --zoom-min 0.75 --zoom-max 1.33 --blur --strong "
    "--strong-share 0.3 --lr 3e-4 --init weights/unet_nuclei.pt --workers 2",
}
TISSUE_EXTRA = "--workers 1"  # the recipes' own options are in their arguments (bench_loco)
RATE = re.compile(r"step (\d+)/\d+ loss \S+\s+([\d.]+) steps/s")


def jobs(data: Path, root: Path, groups: dict[str, str], only: list[str] | None) -> dict:
    """name -> (data arguments, train arguments)."""
    out = {}
    for held in sorted(set(groups.values())):
        folder = holdout_folder(data, groups, held, root / "folders")
        for recipe, extra in RECIPES.items():
            out[f"{recipe}-{held}"] = (["--data", str(folder)], extra)
    for name, extra in CANDIDATES.items():
        out[name] = (["--data", str(data)], extra)
    return {k: v for k, v in out.items() if not only or k in only}


def tissue_jobs(data_root: Path, root: Path, only: list[str] | None) -> dict:
    """Leave one data set out (issue 24): today's recipe A against B (more folders).

    Each distinct training of ``bench_loco.lodo_plan``: without kromp2020_fluo, without
    bitdepth_nucseg, and without each DSB source group; A without either folder is one run.
    """
    dsb, kromp, bitdepth = (
        data_root / n for n in ("dsb2018_train", "kromp2020_fluo", "bitdepth_nucseg")
    )
    recipes = {
        "A": f"--data {dsb} {TODAY}",
        "B": f"--data {dsb}:0.6 --data {kromp}:0.2 --data {bitdepth}:0.2 {TODAY}",
    }
    groups = list(group_sizes(list(train_groups(dsb).values())))
    plan = lodo_plan(recipes, dsb, [kromp, bitdepth], groups, root)
    out = {e["model"]: (e["args"], TISSUE_EXTRA) for e in plan}
    return {k: v for k, v in out.items() if not only or k in only}


def launch(
    name: str, data: list[str], extra: str, steps: int, root: Path, device: str, calib: int = 0
):
    """Start one training (a calibration run of ``calib`` steps when given); (process, log)."""
    log = root / "logs" / f"{name}{'-calibration' if calib else ''}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "napari_unet_nuclei.cli.app", "train", *data,
        "--steps", str(calib or steps), "--device", device,
        "--run-dir", str(root / ("calib" if calib else "runs") / name),
        "--output", str(root / ("calib" if calib else "models") / f"{name}.pt"),
        *shlex.split(COMMON), *shlex.split(extra),
        *(["--log-every", str(calib // 2)] if calib else []),
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT), log


def rates(log: Path) -> list[tuple[int, float]]:
    """(step, cumulative steps/s) of each progress line of a training log."""
    return [(int(m[1]), float(m[2])) for m in RATE.finditer(log.read_text())]


def steady_rate(log: Path, calib: int) -> float:
    """Steps/s between the middle and the end of a calibration run of ``calib`` steps."""
    points = dict(rates(log))
    half, end = calib // 2, calib // 2 * 2
    if half not in points or end not in points:
        raise RuntimeError(f"{log.name}: no progress lines\n{log.read_text()[-3000:]}")
    t_half, t_end = half / points[half], end / points[end]
    return (end - half) / max(t_end - t_half, 1e-6)


def wait(procs: dict, until: float) -> dict[str, int | None]:
    """Wait for every process or the deadline; stop those still running. name -> exit code."""
    while time.time() < until and any(p.poll() is None for p, _ in procs.values()):
        time.sleep(2)
    codes = {}
    for name, (p, _) in procs.items():
        if p.poll() is None:
            p.terminate()
        try:
            codes[name] = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            codes[name] = None
    return codes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="DSB folder (plan tissue: the folder "
                   "holding dsb2018_train, kromp2020_fluo and bitdepth_nucseg)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--plan", choices=("groups", "tissue"), default="groups")
    p.add_argument("--seconds", type=float, default=540, help="the whole run's time budget")
    p.add_argument("--steps", type=int, default=0, help="steps of every job (0: calibrate)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--min-steps", type=int, default=500, help="fewer: stop before training")
    p.add_argument("--calibration", type=int, default=300, help="steps of the calibration run")
    p.add_argument("--only", nargs="*", default=None, help="run only these jobs")
    p.add_argument("--root", type=Path, default=Path("runs/parallel"))
    p.add_argument(
        "--at-once",
        type=int,
        default=0,
        help="run the jobs in waves of this many (0: all at once); the GPU's total steps/s "
        "hardly grow with more jobs, so fewer at once get more steps each",
    )
    return p


def calibrate(todo: dict, first_wave: list[str], waves: int, args, start: float) -> int:
    """The steps every job gets: the first wave's steady rate over what is left of the time."""
    calib = {  # the first wave's jobs, side by side as every wave will run
        n: launch(n, *todo[n], 0, args.root, args.device, args.calibration) for n in first_wave
    }
    codes = wait(calib, start + args.seconds / 3)
    failed = [n for n, c in codes.items() if c != 0]
    if failed:
        for n in failed:
            print(f"--- {n} failed ({codes[n]}):\n{calib[n][1].read_text()[-2000:]}")
        sys.exit(1)
    calib_s = time.time() - start
    rate = min(steady_rate(log, args.calibration) for _, log in calib.values())
    loads = [
        float(m[1])
        for _, log in calib.values()
        for m in re.finditer(r"loaded \d+ training images in (\d+) s", log.read_text())
    ]
    per_wave = (args.seconds - (time.time() - start) - 30) / waves
    left = per_wave - max(loads, default=30) - 5
    steps = int(min(args.max_steps, rate * left * 0.9) // 50 * 50)
    print(
        f"calibration {calib_s:.0f} s: slowest steady rate {rate:.1f} steps/s, "
        f"load up to {max(loads, default=0):.0f} s -> {steps} steps each",
        flush=True,
    )
    return steps


def main() -> None:
    """Calibrate (unless --steps), train every job, pack the results."""
    args = _parser().parse_args()
    start = time.time()
    args.root.mkdir(parents=True, exist_ok=True)
    if args.plan == "tissue":
        todo = tissue_jobs(args.data, args.root, args.only)
    else:
        todo = jobs(args.data, args.root, train_groups(args.data), args.only)
    at_once = args.at_once if 0 < args.at_once < len(todo) else len(todo)
    names = list(todo)
    waves = [names[i : i + at_once] for i in range(0, len(names), at_once)]
    print(f"{len(todo)} jobs in {len(waves)} wave(s): {', '.join(todo)}", flush=True)
    steps = args.steps or calibrate(todo, waves[0], len(waves), args, start)
    if steps < args.min_steps:
        sys.exit(f"only {steps} steps would fit; not training")
    per_wave = (args.seconds - (time.time() - start) - 30) / len(waves)
    t0, final, codes = time.time(), {}, {}
    for k, wave in enumerate(waves, 1):
        until = start + args.seconds - 15 if k == len(waves) else time.time() + per_wave
        started = {n: launch(n, *todo[n], steps, args.root, args.device) for n in wave}
        codes.update(wait(started, until))
        final.update(started)
    summary = {
        "steps": steps,
        "train_s": round(time.time() - t0),
        "common": COMMON,
        "jobs": {
            n: {"args": todo[n], "exit": codes[n], "last": (rates(log) or [(0, 0)])[-1]}
            for n, (_, log) in final.items()
        },
    }
    print(json.dumps(summary, indent=1, default=str), flush=True)
    (args.root / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    args.out.mkdir(parents=True, exist_ok=True)
    for n, code in codes.items():  # unfinished jobs: their last checkpoint, as weights
        ckpt = args.root / "runs" / n / "checkpoint.pt"
        if code != 0 and ckpt.exists():
            unfinished_weights(ckpt, args.root / "models" / f"{n}.unfinished.pt")
    pack(args.root, args.out)


def unfinished_weights(ckpt: Path, out: Path) -> None:
    """A weights file from a training checkpoint (its step in ``meta["unfinished_at"]``)."""
    import torch

    from napari_unet_nuclei._model import UNet, UNetConfig, save_weights

    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    a = state["args"]
    model = UNet(UNetConfig(base=a["base"], depth=a["depth"]))
    model.load_state_dict(state["model"])
    meta = {"unfinished_at": state["step"], "train_args": a, "diameter": a.get("diameter") or 16.0}
    save_weights(model, out, meta)


def pack(root: Path, out: Path) -> None:
    """The weights in tars of at most 16 MiB each (one per name prefix: plain, strong, A, B,
    all, ft...), the logs and the summary."""
    models = sorted((root / "models").glob("*.pt"))
    for prefix in sorted({m.name.split("-")[0] for m in models}):
        with tarfile.open(out / f"{prefix}.tar", "w") as tar:
            for f in models:
                if f.name.split("-")[0] == prefix:
                    tar.add(f, arcname=f.name)
    with tarfile.open(out / "logs.tar", "w") as tar:
        tar.add(root / "logs", arcname="logs")
        tar.add(root / "summary.json", arcname="summary.json")


if __name__ == "__main__":
    main()
