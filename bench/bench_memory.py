"""Repeated segmentations in one process: RSS and thread count must not grow.

    python bench/bench_memory.py [--runs 200] [--size 256]

Prints RSS and threads after the warm-up and every 50 runs, then the growth.
"""

from __future__ import annotations

import argparse
import gc
import threading
from pathlib import Path

from napari_unet_nuclei import segment_nuclei
from napari_unet_nuclei._sample_data import synthetic_nuclei


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def os_threads() -> int:
    """Threads of this process, native ones included."""
    return len(list(Path("/proc/self/task").iterdir()))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    images = [synthetic_nuclei((args.size, args.size), seed=s)[0] for s in range(4)]
    for image in images:  # warm-up: weights loaded, allocator pools filled
        segment_nuclei(image, device="cpu")
    gc.collect()
    base_rss, base_threads = rss_mb(), os_threads()
    print(
        f"after warm-up: RSS {base_rss:.0f} MB, {base_threads} OS threads, "
        f"{threading.active_count()} Python threads"
    )
    for i in range(1, args.runs + 1):
        segment_nuclei(images[i % len(images)], device="cpu", split=i % 2 == 0)
        if i % 50 == 0:
            gc.collect()
            print(f"run {i}: RSS {rss_mb():.0f} MB, {os_threads()} OS threads")
    print(
        f"growth over {args.runs} runs: RSS {rss_mb() - base_rss:+.1f} MB, "
        f"threads {os_threads() - base_threads:+d}"
    )


if __name__ == "__main__":
    main()
