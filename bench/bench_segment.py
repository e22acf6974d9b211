"""Seconds per megapixel of segment_nuclei on a 1024x1024 synthetic image, split into
network (predict) and post-processing (labels) time.

    python bench/bench_segment.py [--size 1024] [--repeat 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from napari_unet_nuclei import predict
from napari_unet_nuclei._synthetic import synthetic_nuclei


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    image, _ = synthetic_nuclei((args.size, args.size), seed=0)
    predict(image[:256, :256], args.device)  # load the weights, warm up
    mp = args.size * args.size / 1e6
    net, post = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pred = predict(image, args.device)
        t1 = time.perf_counter()
        labels = pred.labels(split=True)
        t2 = time.perf_counter()
        net.append(t1 - t0)
        post.append(t2 - t1)
    n, q = min(net), min(post)
    print(f"image {args.size}x{args.size} uint16, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeat}")
    print(f"segment_nuclei: {(n + q) / mp:.2f} s/MP  ({int(labels.max())} nuclei)")
    print(f"  network:         {n / mp:.2f} s/MP  ({100 * n / (n + q):.0f} %)")
    print(f"  post-processing: {q / mp:.2f} s/MP  ({100 * q / (n + q):.0f} %)")


if __name__ == "__main__":
    main()
