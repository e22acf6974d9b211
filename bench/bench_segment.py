"""Seconds per megapixel of segment_nuclei on a 1024x1024 synthetic image, and the share
spent in the network (``predict_maps``: tiles through the U-Net) against everything else
(normalisation, the size measurement, seeds, watershed, relabelling).

    python bench/bench_segment.py [--size 1024] [--repeat 3] [--device cpu] [--baseline]
                                  [--weights FILE] [--label-workers N]

``--baseline`` runs the network as the first release did (plain eval model, no batch-norm
folding, no channels-last, 512-pixel tiles with a 32-pixel halo) for comparison.
``--weights`` times other weights than the bundled ones, e.g. the earlier base-16 model:
``git show 8e0d42b:weights/unet_nuclei.pt > /tmp/unet16.pt``.
"""

from __future__ import annotations

import argparse
import time

import torch

from napari_unet_nuclei import _api, _inference, _label_blocks, segment_nuclei
from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._synthetic import synthetic_nuclei


def use_baseline_network() -> dict:
    """Swap in the first release's network path; returns the tiling it used."""
    _inference._MODELS.clear()
    _inference._model_on = lambda weights, device: load_model(weights)
    _inference._run = lambda model, x, device: model(x.to(device))
    return {"tile_size": 512, "halo": 32}


class NetworkTimer:
    """Wraps ``_api.predict_maps`` and adds up the seconds spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._real = _api.predict_maps
        _api.predict_maps = self

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self._real(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--baseline", action="store_true")
    p.add_argument("--weights", default=None, help="weights file (default: bundled)")
    p.add_argument(
        "--label-workers",
        type=int,
        default=None,
        help="threads for block-wise post-processing of maps over 8 MP",
    )
    args = p.parse_args()
    if args.label_workers is not None:
        _label_blocks.WORKERS = args.label_workers
    tiling = use_baseline_network() if args.baseline else {}
    image, _ = synthetic_nuclei((args.size, args.size), seed=0)
    tiling["weights"] = args.weights
    segment_nuclei(image[:256, :256], device=args.device, **tiling)  # load weights, warm up
    timer = NetworkTimer()
    mp = args.size * args.size / 1e6
    runs = []
    for _ in range(args.repeat):
        timer.seconds = 0.0
        t0 = time.perf_counter()
        labels = segment_nuclei(image, device=args.device, **tiling)
        runs.append((time.perf_counter() - t0, timer.seconds))
    total, net = min(runs)
    mode = "first-release network path" if args.baseline else "current"
    print(
        f"image {args.size}x{args.size} uint16, device {args.device}, {mode}, "
        f"weights {args.weights or 'bundled'}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeat}"
    )
    print(f"segment_nuclei: {total / mp:.2f} s/MP  ({int(labels.max())} nuclei)")
    print(f"  network:         {net / mp:.2f} s/MP  ({100 * net / total:.0f} %)")
    rest = total - net
    print(f"  everything else: {rest / mp:.2f} s/MP  ({100 * rest / total:.0f} %)")


if __name__ == "__main__":
    main()
