"""GPU figures: megapixels per second of ``segment_nuclei`` and of the network alone, peak
GPU memory, batch sizes, fp16 against fp32, and (with ``--data``) val scores in both.

    python bench/bench_gpu.py [--device cuda] [--sizes 1024 2048 4096 8192]
                              [--data ../shared/data/dsb2018_train --split val]

Images are uint16 synthetic nuclei (1024² patterns repeated). The network figure is the
time inside ``predict_maps`` at the model's scale (tiles in, maps back on the host).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from napari_unet_nuclei import NucleusModel, segment_nuclei
from napari_unet_nuclei._inference import predict_maps
from napari_unet_nuclei._normalize import normalize_image
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._settings import DEFAULT_TILE
from napari_unet_nuclei.training.metrics import match_counts

PATTERN = 1024


def big_image(size: int) -> np.ndarray:
    """A size x size uint16 image of repeated 1024² synthetic patterns."""
    tiles = [synthetic_nuclei((PATTERN, PATTERN), seed=s)[0] for s in range(4)]
    n = -(-size // PATTERN)
    rows = [np.concatenate([tiles[(i + j) % 4] for j in range(n)], axis=1) for i in range(n)]
    return np.concatenate(rows, axis=0)[:size, :size]


def best(fn, repeat: int) -> float:
    """Fastest of ``repeat`` timed calls (after the caller's warm-up)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def pipeline_table(sizes: list[int], device: str, repeat: int, weights: str | None) -> None:
    """Whole ``segment_nuclei`` (defaults, diameter auto) per size."""
    print(
        f"{'image':>7} {'MP':>6} {'s':>7} {'MP/s':>7} {'net MP/s':>9} {'net %':>6} "
        f"{'nuclei':>7} {'GPU peak GB':>12}"
    )
    for size in sizes:
        image = big_image(size)
        mp = size * size / 1e6
        model = NucleusModel(weights, device)
        torch.cuda.reset_peak_memory_stats()
        runs = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            pred = model.predict(image)  # what segment() runs for an image this size
            labels = pred.labels()
            torch.cuda.synchronize()
            runs.append((time.perf_counter() - t0, pred.info["network_seconds"]))
        total, net = min(runs)
        peak = torch.cuda.max_memory_allocated() / 1e9
        print(
            f"{size:>6}² {mp:>6.1f} {total:>7.2f} {mp / total:>7.1f} {mp / net:>9.1f} "
            f"{100 * net / total:>5.0f}% {int(labels.max()):>7} {peak:>12.2f}"
        )


def network_table(size: int, device: str, repeat: int, weights: str | None) -> None:
    """The network alone at one size, per batch size and precision."""
    norm = normalize_image(big_image(size))
    model = NucleusModel(weights, device)
    mp = size * size / 1e6
    print(f"network only, {size}², tiles of {DEFAULT_TILE}²:")
    for precision in ("fp16", "fp32"):
        for batch in (1, 4, 8):

            def run(batch=batch, precision=precision):
                net, dev = model.network, model.device
                return predict_maps(norm, net, dev, batch_size=batch, precision=precision)

            run()
            seconds = best(run, repeat)
            print(f"  {precision} batch {batch}: {mp / seconds:7.1f} MP/s")


def agreement(device: str, weights: str | None) -> None:
    """Labels on the GPU (fp16 and fp32) against the CPU's, on a 1024² synthetic image."""
    image, truth = synthetic_nuclei((PATTERN, PATTERN), seed=11)
    cpu = segment_nuclei(image, device="cpu", weights=weights)
    for precision in ("fp16", "fp32"):
        gpu = segment_nuclei(image, device=device, weights=weights, precision=precision)
        same = match_counts(cpu, gpu, (0.5, 0.9))
        vs_truth = match_counts(truth, gpu, (0.5,))[0].ap
        print(
            f"  {precision}: AP@0.5 / AP@0.9 against the CPU labels "
            f"{same[0].ap:.4f} / {same[1].ap:.4f}; against the truth {vs_truth:.4f} "
            f"(CPU {match_counts(truth, cpu, (0.5,))[0].ap:.4f})"
        )


def val_scores(data: str, split: str, device: str, weights: str | None) -> None:
    """``evaluate`` on the GPU in fp16 and in fp32."""
    from napari_unet_nuclei.training.evaluate import evaluate, format_table

    for precision in ("fp16", "fp32"):
        t0 = time.perf_counter()
        scores = evaluate(data, split, weights, device=device, precision=precision)
        print(f"{precision} on {device} ({time.perf_counter() - t0:.0f} s):")
        print(format_table(scores))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--weights", default=None, help="weights file (default: bundled)")
    p.add_argument("--data", default=None, help="DSB2018-style folder: also score a split")
    p.add_argument("--split", default="val")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU (torch sees none)")
    props = torch.cuda.get_device_properties(args.device)
    print(
        f"{props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
        f"{torch.get_num_threads()} CPU threads, weights {args.weights or 'bundled'}"
    )
    segment_nuclei(big_image(256), device=args.device, weights=args.weights)  # warm-up
    print("agreement with the CPU:")
    agreement(args.device, args.weights)
    pipeline_table(args.sizes, args.device, args.repeat, args.weights)
    network_table(min(4096, max(args.sizes)), args.device, args.repeat, args.weights)
    if args.data:
        val_scores(args.data, args.split, args.device, args.weights)


if __name__ == "__main__":
    main()
