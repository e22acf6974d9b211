"""Seconds per megapixel of segment_nuclei on a 1024x1024 synthetic image, split into the
network (``predict``: normalisation, size estimate, tiles) and post-processing (``labels``
from fresh maps: seeds, watershed, relabelling).

    python bench/bench_segment.py [--size 1024] [--repeat 3] [--device cpu] [--baseline]

``--baseline`` runs the network as the first release did (plain eval model, no batch-norm
folding, no channels-last, 512-pixel tiles with a 32-pixel halo) for comparison.
"""

from __future__ import annotations

import argparse
import time

import torch

from napari_unet_nuclei import _inference, predict
from napari_unet_nuclei._api import Prediction
from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._synthetic import synthetic_nuclei


def use_baseline_network() -> dict:
    """Swap in the first release's network path; returns the tiling it used."""
    _inference._MODELS.clear()
    _inference._model_on = lambda weights, device: load_model(weights)
    _inference._run = lambda model, x, device: model(x.to(device))
    return {"tile_size": 512, "halo": 32}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--baseline", action="store_true")
    args = p.parse_args()
    tiling = use_baseline_network() if args.baseline else {}
    image, _ = synthetic_nuclei((args.size, args.size), seed=0)
    predict(image[:256, :256], args.device, **tiling)  # load the weights, warm up
    mp = args.size * args.size / 1e6
    net, post = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pred = predict(image, args.device, **tiling)
        t1 = time.perf_counter()
        labels = Prediction(pred.foreground, pred.distance).labels(split=True)
        t2 = time.perf_counter()
        net.append(t1 - t0)
        post.append(t2 - t1)
    n, q = min(net), min(post)
    mode = "first-release network path" if args.baseline else "current"
    print(f"image {args.size}x{args.size} uint16, device {args.device}, {mode}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeat}")
    print(f"segment_nuclei: {(n + q) / mp:.2f} s/MP  ({int(labels.max())} nuclei, "
          f"diameter {pred.diameter:.1f} px, scale {pred.info['scale']:.2f})")
    print(f"  network:         {n / mp:.2f} s/MP  ({100 * n / (n + q):.0f} %)")
    print(f"  post-processing: {q / mp:.2f} s/MP  ({100 * q / (n + q):.0f} %)")


if __name__ == "__main__":
    main()
