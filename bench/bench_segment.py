"""Seconds per megapixel of segmenting a 1024x1024 synthetic image with the defaults, and the
share spent in the network (tiles through the U-Net, size-estimating passes included,
``Prediction.info["network_seconds"]``) against everything else (normalisation, the size
measurement, seeds, watershed, relabelling).

    python bench/bench_segment.py [--size 1024] [--repeat 3] [--device cpu]
                                  [--weights FILE] [--label-workers N]

``--weights`` times other weights than the bundled ones, e.g. the earlier base-16 model:
``git show 8e0d42b:weights/unet_nuclei.pt > /tmp/unet16.pt``. The first release's network
path (``--baseline`` in this script up to commit 99e6d56) is gone with the private
functions it replaced.
"""

from __future__ import annotations

import argparse
import time

import torch

from napari_unet_nuclei import NucleusModel, Settings
from napari_unet_nuclei._sample_data import synthetic_nuclei


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--weights", default=None, help="weights file (default: bundled)")
    p.add_argument(
        "--label-workers",
        type=int,
        default=None,
        help="threads for block-wise post-processing of maps over 8 MP",
    )
    args = p.parse_args()
    settings = Settings.of(block_threads=args.label_workers)
    image, _ = synthetic_nuclei((args.size, args.size), seed=0)
    model = NucleusModel(args.weights, args.device)
    model.predict(image[:256, :256], settings=settings).labels()  # warm up
    mp = args.size * args.size / 1e6
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pred = model.predict(image, settings=settings)  # what segment() runs for a 2D image
        labels = pred.labels(**settings.label_options())
        runs.append((time.perf_counter() - t0, pred.info["network_seconds"]))
    total, net = min(runs)
    mode = "current"
    print(
        f"image {args.size}x{args.size} uint16, device {args.device}, {mode}, "
        f"weights {args.weights or 'bundled'}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeat}"
    )
    print(f"segment: {total / mp:.2f} s/MP  ({int(labels.max())} nuclei)")
    print(f"  network:         {net / mp:.2f} s/MP  ({100 * net / total:.0f} %)")
    rest = total - net
    print(f"  everything else: {rest / mp:.2f} s/MP  ({100 * rest / total:.0f} %)")


if __name__ == "__main__":
    main()
