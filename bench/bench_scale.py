"""Time and peak memory of big images by size: ``segment_large`` from a file, or
``segment_nuclei`` on an array already in memory (``--in-memory``).

    nice -n 10 python bench/bench_scale.py [--sizes 1024 2048 4096 8192] [--block 2048]
                                           [--device cpu] [--in-memory]

Each input is a tiled BigTIFF written tile by tile from eight 1024x1024 synthetic patterns
(so even 8192x8192 is never held in memory here), then segmented in a fresh subprocess: by
default read lazily with the labels written to a BigTIFF memmap; with ``--in-memory`` read
whole into a numpy array and given to ``segment_nuclei`` (labels returned in memory). Peak
RSS is that child's ``ru_maxrss`` (the input array included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

PATTERN = 1024
MAX_RSS_8192_GB = 3.0


def patterns(n: int = 8) -> list[np.ndarray]:
    """Distinct synthetic tiles to repeat."""
    from napari_unet_nuclei._sample_data import synthetic_nuclei

    return [synthetic_nuclei((PATTERN, PATTERN), seed=s)[0] for s in range(n)]


def write_input(path: Path, size: int, tiles: list[np.ndarray]) -> None:
    """A size x size uint16 tiled BigTIFF, one 1024x1024 tile at a time."""
    import tifffile

    def gen() -> Iterator[np.ndarray]:
        for i in range((size // PATTERN) ** 2):
            yield tiles[(i * 5 + i // 7) % len(tiles)]

    tifffile.imwrite(
        path, gen(), shape=(size, size), dtype=np.uint16, tile=(PATTERN, PATTERN), bigtiff=True
    )


def child(source: str, output: str, block: int, device: str, in_memory: bool) -> None:
    """Run in the subprocess: segment and print one JSON line."""
    import torch

    t0 = time.perf_counter()
    if in_memory:  # imports only what older versions also have, to compare them
        import tifffile

        from napari_unet_nuclei import segment_nuclei

        image = tifffile.imread(source)
        t0 = time.perf_counter()
        options = {} if block == 2048 else {"block_size": block}
        count, margin = int(segment_nuclei(image, device=device, **options).max()), None
    else:
        from napari_unet_nuclei import NucleusModel, Settings, segment_large

        result = segment_large(source, output, block_size=block, device=device)
        s = Settings(block_size=block)
        plan = NucleusModel(device=device).plan((4 * block,) * 2, s, result.decisions)
        count, margin = result.count, plan[0].region[0].stop - plan[0].inner[0].stop
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "count": count,
                "margin": margin,
                "threads": torch.get_num_threads(),
            }
        )
    )


def run_child(
    source: Path, output: Path, block: int, device: str, in_memory: bool
) -> tuple[dict, float]:
    """The child's JSON result and its peak RSS in GB (from wait4)."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(source),
        str(output),
        "--block",
        str(block),
        "--device",
        device,
        *(["--in-memory"] if in_memory else []),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    text = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}) for {source}")
    return json.loads(text.strip().splitlines()[-1]), usage.ru_maxrss / 1024**2


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    p.add_argument("--block", type=int, default=2048)
    p.add_argument("--device", default="cpu")
    p.add_argument("--in-memory", action="store_true", help="segment_nuclei on a numpy array")
    p.add_argument("--child", nargs=2, default=None, metavar=("SOURCE", "OUTPUT"))
    args = p.parse_args()
    if args.child:
        child(*args.child, args.block, args.device, args.in_memory)
        return
    tiles = patterns()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            source, output = Path(tmp) / f"in{size}.tif", Path(tmp) / f"labels{size}.tif"
            write_input(source, size, tiles)
            res, rss = run_child(source, output, args.block, args.device, args.in_memory)
            mp = size * size / 1e6
            rows.append((size, res, rss, mp))
            print(f"{size}: {res['seconds']:.1f} s, {rss:.2f} GB", file=sys.stderr, flush=True)
            source.unlink()
            output.unlink(missing_ok=True)
    how = (
        "input: a numpy array (segment_nuclei), output: labels in memory"
        if args.in_memory
        else "input: tiled BigTIFF, output: BigTIFF memmap (uint32)"
    )
    print(
        f"block {args.block}, device {args.device}, {rows[0][1]['threads']} torch threads, "
        f"{os.cpu_count()} CPUs; {how}\n"
    )
    print("| image | MP | nuclei | margin (px) | time (s) | s/MP | peak RSS (GB) |")
    print("|---|---|---|---|---|---|---|")
    for size, res, rss, mp in rows:
        print(
            f"| {size}x{size} | {mp:.1f} | {res['count']} | {res['margin']} | "
            f"{res['seconds']:.1f} | {res['seconds'] / mp:.2f} | {rss:.2f} |"
        )
    big = [rss for size, _, rss, _ in rows if size >= 8192]
    if big and max(big) >= MAX_RSS_8192_GB:
        print(f"\nWARNING: peak RSS {max(big):.2f} GB at 8192^2 is over {MAX_RSS_8192_GB} GB")


if __name__ == "__main__":
    main()
