"""GPU figures: end-to-end megapixels per second of ``NucleusModel.segment`` (a folder of 1 MP
images, then each size) with the network's share and peak GPU memory; the network alone per
batch size and precision; the equality of the labels made on the device with the CPU's; and
(with ``--data``) val scores in fp16 and fp32.

    python bench/bench_gpu.py [--device cuda] [--sizes 4096 8192] [--folder 16]
                              [--data ../shared/data/dsb2018_train --split val]
    python bench/bench_gpu.py --equality [--cpu-tensors] [--sizes 4096]
                              --data ../shared/data/dsb2018_train ../shared/data/kromp2020_fluo

Images are uint16 synthetic nuclei (1024² patterns repeated). The network figure is the
time inside ``predict_maps`` at the model's scale. Equality: the maps of each val image (and
of a synthetic image per size) labelled on the device and, as numpy, by the CPU's code;
nuclei matched at IoU 0.9, counts, and AP@0.5 against the truth for both. ``--cpu-tensors``
runs the device code on CPU tensors (no GPU needed; slow).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from napari_unet_nuclei import NucleusModel, _engine, segment_nuclei
from napari_unet_nuclei._inference import predict_maps
from napari_unet_nuclei._normalize import normalize_image
from napari_unet_nuclei._prediction import Prediction
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


def _gpu_peak_gb() -> float:
    return torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else 0.0


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(model: NucleusModel, images: list[np.ndarray]) -> tuple[float, float, int, str]:
    """(seconds, network seconds, nuclei, path) of ``segment`` on each image in turn."""
    n0, t0, nuclei, path = model.network_seconds, time.perf_counter(), 0, ""
    for image in images:
        seg = model.segment(image)
        nuclei, path = nuclei + int(seg.labels.max()), seg.path
    _sync()
    return time.perf_counter() - t0, model.network_seconds - n0, nuclei, path


def pipeline_table(
    sizes: list[int], folder: int, device: str, repeat: int, weights: str | None
) -> None:
    """Whole ``NucleusModel.segment`` (defaults, diameter auto): a folder of 1 MP, each size."""
    print(
        f"{'images':>13} {'MP':>6} {'s':>7} {'MP/s':>7} {'net MP/s':>9} {'net %':>6} "
        f"{'nuclei':>7} {'path':>6} {'GPU peak GB':>12}"
    )
    model = NucleusModel(weights, device)
    cases = [(f"{folder} x 1024²", [big_image(PATTERN)] * folder)] if folder else []
    cases += [(f"{size}²", [big_image(size)]) for size in sizes]
    for name, images in cases:
        mp = sum(i.size for i in images) / 1e6
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        total, net, nuclei, path = min(_timed(model, images) for _ in range(repeat))
        print(
            f"{name:>13} {mp:>6.1f} {total:>7.2f} {mp / total:>7.1f} {mp / net:>9.1f} "
            f"{100 * net / total:>5.0f}% {nuclei:>7} {path:>6} {_gpu_peak_gb():>12.2f}"
        )


def _host_copy(pred: Prediction) -> Prediction:
    """The same prediction with numpy maps: labelled by today's CPU code (blocks over 8 MP)."""
    host = Prediction(pred.foreground.cpu().numpy(), pred.distance.cpu().numpy())
    host.expected_diameter, host.image_shape = pred.expected_diameter, pred.image_shape
    host.block_threads = max(2, pred.block_threads)
    return host


def _compare(model: NucleusModel, image: np.ndarray, truth: np.ndarray | None) -> list:
    """[cpu nuclei, device nuclei, matched at IoU 0.9, cpu s, device s, AP counts cpu, dev]."""
    pred = model.predict(image)
    pred.__dict__.pop("peaks", None)  # both sides from the maps alone (no cached seeds,
    pred._last[:] = [None, None]  # no labels cached by the size measurement)
    t0 = time.perf_counter()
    dev = pred.labels()
    _sync()
    t1 = time.perf_counter()
    cpu = _host_copy(pred).labels()
    t2 = time.perf_counter()
    row = [int(cpu.max()), int(dev.max()), match_counts(cpu, dev, (0.9,))[0].tp, t2 - t1, t1 - t0]
    if truth is not None:
        row += [match_counts(truth, cpu, (0.5,))[0], match_counts(truth, dev, (0.5,))[0]]
    return row


def _pooled(counts: list) -> float:
    tp = sum(c.tp for c in counts)
    return tp / max(1, sum(c.tp + c.fp + c.fn for c in counts))


def _report(name: str, rows: list[list]) -> None:
    cpu, dev, matched = (sum(r[i] for r in rows) for i in range(3))
    line = (
        f"  {name:>22}: {len(rows):>3} images, nuclei CPU {cpu} device {dev} "
        f"({100 * (dev - cpu) / max(1, cpu):+.2f} %), matched at IoU 0.9 "
        f"{100 * matched / max(1, cpu):.2f} %; post-processing CPU {sum(r[3] for r in rows):.1f} s"
        f", device {sum(r[4] for r in rows):.1f} s"
    )
    if rows and len(rows[0]) > 5:
        a, b = _pooled([r[5] for r in rows]), _pooled([r[6] for r in rows])
        line += f"; AP@0.5 CPU {a:.4f} device {b:.4f} ({b - a:+.4f})"
    print(line)


def equality(device: str, weights: str | None, sizes: list[int], data: list[str], split: str):
    """Device labels against the CPU's labels of the same maps: val images, synthetic sizes."""
    from napari_unet_nuclei.training.dataset import read_index, read_pair

    model = NucleusModel(weights, device)
    print(f"equality of device labels ({device}) with the CPU's, same maps:")
    for folder in data:
        rows = [_compare(model, *read_pair(e)) for e in read_index(folder, split)]
        _report(f"{folder.rstrip('/').split('/')[-1]} {split}", rows)
    for size in sizes:
        image, truth = synthetic_nuclei((size, size), seed=5)
        _report(f"synthetic {size}²", [_compare(model, image, truth)])


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
    p.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    p.add_argument("--folder", type=int, default=16, help="1 MP images in the folder case")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--weights", default=None, help="weights file (default: bundled)")
    p.add_argument("--data", nargs="*", default=[], help="DSB2018-style folders: val scores")
    p.add_argument("--split", default="val")
    p.add_argument("--equality", action="store_true", help="only the equality figures")
    p.add_argument("--cpu-tensors", action="store_true", help="device code on CPU tensors")
    args = p.parse_args()
    if args.cpu_tensors:
        _engine.keeps_maps = lambda device: True  # the device path, on the CPU
        args.device = "cpu"
    elif not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU (torch sees none), or --cpu-tensors")
    else:
        props = torch.cuda.get_device_properties(args.device)
        print(
            f"{props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
            f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
            f"{torch.get_num_threads()} CPU threads, weights {args.weights or 'bundled'}"
        )
    segment_nuclei(big_image(256), device=args.device, weights=args.weights)  # warm-up
    if args.equality:
        equality(args.device, args.weights, args.sizes, args.data, args.split)
        return
    print("agreement with the CPU:")
    agreement(args.device, args.weights)
    pipeline_table(args.sizes, args.folder, args.device, args.repeat, args.weights)
    network_table(min(4096, max(args.sizes)), args.device, args.repeat, args.weights)
    for folder in args.data:
        val_scores(folder, args.split, args.device, args.weights)


if __name__ == "__main__":
    main()
