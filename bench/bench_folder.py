"""A folder of images through ``napari-unet-nuclei segment``: the plain loop against the pipeline.

    python bench/bench_folder.py [--images 12] [--size 1024] [--workers 0 auto] [--rounds 2]
                                 [--device cpu] [--diameter auto] [--before OLD/src]

Writes N synthetic uint16 images (``_sample_data.synthetic_nuclei``) to a temporary folder and
runs the ``segment`` command in this process on them, once per ``--parallel-files`` value per round,
back to back (``0`` is the plain loop, one file after another, as before the pipeline;
``auto`` the default). Each run writes to a new folder; one image is segmented first, so the
model is loaded and warm before the first timed run.
Prints images/s and MP/s (best round) for each and its ratio to the first, with the load
average before each run, since other jobs on the machine change the figures.

``--before OLD/src`` also times, each round, the ``segment`` command of another checkout's
package (e.g. ``git worktree add OLD <commit>``; its package needs the weights:
``ln -s ../../weights OLD/src/napari_unet_nuclei/weights``) in a child process, model
loaded first, and prints every figure against it too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tifffile

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.batch.folder import cores
from napari_unet_nuclei.cli.app import main as cli


def make_images(folder: Path, n: int, size: int) -> None:
    for i in range(n):
        tifffile.imwrite(folder / f"img{i:03d}.tif", synthetic_nuclei((size, size), seed=i)[0])


def run(folder: Path, out: Path, workers: str, device: str, diameter: str) -> float:
    """Seconds of one ``segment`` run (its printed lines swallowed)."""
    argv = ["segment", str(folder), "-o", str(out), "--device", device, "--diameter", diameter]
    if workers != "auto":
        argv += ["--parallel-files", workers]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli(argv)
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"segment --parallel-files {workers} exited {code}")
    return seconds


BEFORE = """
import contextlib, io, sys, time
from napari_unet_nuclei.cli.app import main
folder, out, device, diameter = sys.argv[1:5]
run = ["--device", device, "--diameter", diameter]
with contextlib.redirect_stdout(io.StringIO()):
    main(["segment", folder + "/img000.tif", "-o", out + "-warm", *run])
    t0 = time.perf_counter()
    code = main(["segment", folder, "-o", out, *run])
print(code, time.perf_counter() - t0)
"""


def run_before(src: Path, folder: Path, out: Path, device: str, diameter: str) -> float:
    """Seconds of ``segment`` of the package in ``src`` (a child process, model warm)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [sys.executable, "-c", BEFORE, str(folder), str(out), device, diameter]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    code, seconds = (done.stdout.split() + ["?", "?"])[:2]
    if done.returncode != 0 or code != "0":
        raise SystemExit(f"segment of {src} failed:\n{done.stdout}{done.stderr[-2000:]}")
    return float(seconds)


def identical(tmp: Path, workers: list[str]) -> bool:
    """Whether every run wrote the same label files as the first run of ``workers[0]``."""
    first = tmp / f"out-{workers[0]}-0"
    reference = {p.name: tifffile.imread(p) for p in first.iterdir()}
    for out in tmp.glob("out-*"):
        for name, labels in reference.items():
            if not (out / name).is_file() or not (tifffile.imread(out / name) == labels).all():
                return False
    return True


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--workers", nargs="+", default=["0", "auto"])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--diameter", default="auto")
    p.add_argument("--before", type=Path, help="another checkout's src folder, timed too")
    args = p.parse_args()
    import torch

    print(
        f"{args.images} images of {args.size}², device {args.device}, diameter {args.diameter}, "
        f"{cores()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder, mp = Path(tmp) / "in", args.images * args.size**2 / 1e6
        folder.mkdir()
        make_images(folder, args.images, args.size)
        run(folder / "img000.tif", Path(tmp) / "warm", "0", args.device, args.diameter)
        best: dict[str, float] = {}
        for r in range(args.rounds):
            if args.before:
                load = os.getloadavg()[0]
                out = Path(tmp) / f"before-{r}"
                s = run_before(args.before.resolve(), folder, out, args.device, args.diameter)
                best["before"] = min(best.get("before", s), s)
                print(f"round {r + 1}, before ({args.before}): {s:.2f} s (load average {load:.2f})")
            for w in args.workers:
                load = os.getloadavg()[0]
                s = run(folder, Path(tmp) / f"out-{w}-{r}", w, args.device, args.diameter)
                best[w] = min(best.get(w, s), s)
                print(f"round {r + 1}, --workers {w}: {s:.2f} s (load average before {load:.2f})")
        same = identical(Path(tmp), args.workers)
    print(f"labels identical to --workers {args.workers[0]}'s in every run: {same}")
    base = best[args.workers[0]]
    for w, s in best.items():
        versus = f", {best['before'] / s:.2f}x before" if "before" in best else ""
        print(
            f"{'before' if w == 'before' else f'--workers {w:>4}'}: {args.images / s:.3f} "
            f"images/s, {mp / s:.3f} MP/s, {base / s:.2f}x --workers {args.workers[0]}"
            f"{versus} (best of {args.rounds})"
        )


if __name__ == "__main__":
    main()
