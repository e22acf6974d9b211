"""Stained images: each model on the colour image and on its haematoxylin channel.

Scores, with default settings, on the stained images of each split (``--splits``) of a
DSB2018-style folder, for each model of ``--models NAME=WEIGHTS`` (default: the bundled
``general`` and ``stained``), two ways:
- ``NAME``: the model on the image as it is (colour, made grey and inverted, as users run it);
- ``NAME-H``: the model on the haematoxylin amount (``skimage.color.rgb2hed``, channel 0),
  percentile-scaled (1-99.8) to 0-1: nuclei bright on dark, as in fluorescence.

    python bench/bench_hematoxylin.py --data ../shared/data/dsb2018_train --splits val train

The train split's stained images form one held-out group (``training/groups.py``:
``stained-256x320``), but both bundled models were trained on them: only ``val`` is fair
for them. Held out for real: models trained without that group (``bench_loco.py --lodo``:
``A-stained-256x320.pt``, ``B-…``), scored on the group's scratch folder, split ``holdout``:

    python bench/bench_hematoxylin.py --data ROOT/folders/stained-256x320 --splits holdout \
        --models A=MODELS/A-stained-256x320.pt B=MODELS/B-stained-256x320.pt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from napari_unet_nuclei._engine import NucleusModel
from napari_unet_nuclei._settings import Settings
from napari_unet_nuclei.training.dataset import read_index
from napari_unet_nuclei.training.evaluate import engine_labels, format_table, score_entries


def hematoxylin(image: np.ndarray) -> np.ndarray:
    """The haematoxylin amount of a colour image, scaled to 0-1 by its 1 and 99.8 percentiles."""
    from skimage.color import rgb2hed

    if image.ndim != 3:
        return image  # grey: nothing to unmix
    amount = rgb2hed(image[..., :3])[..., 0]
    lo, hi = np.percentile(amount, [1.0, 99.8])
    return np.clip((amount - lo) / max(float(hi - lo), 1e-6), 0, 1).astype(np.float32)


def main() -> None:
    """Score the three ways on the stained images of each split; print tables and JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--splits", nargs="+", default=["val"])
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--models",
        nargs="+",
        default=["general=general", "stained=stained"],
        metavar="NAME=WEIGHTS",
        help="models to score: a bundled name or a weights file each",
    )
    args = p.parse_args()
    ways = {}
    for spec in args.models:
        name, _, weights = spec.partition("=")
        labels = engine_labels(NucleusModel(weights or name, args.device), Settings())
        ways[name] = labels
        ways[f"{name}-H"] = lambda image, labels=labels: labels(hematoxylin(image))
    results = {}
    for split in args.splits:
        entries = [e for e in read_index(args.data, split) if e.kind == "stained"]
        for name, labels in ways.items():
            t0 = time.perf_counter()
            scores = score_entries(entries, labels)["all"]
            results[f"{split}/{name}"] = scores
            print(f"{split}/{name} ({time.perf_counter() - t0:.0f} s)", flush=True)
        print(format_table({n: {"stained": results[f"{split}/{n}"]} for n in ways}), flush=True)
    print(json.dumps({k: {c: round(v, 4) for c, v in row.items()} for k, row in results.items()}))


if __name__ == "__main__":
    main()
