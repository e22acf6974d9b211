"""Stained images: each model on the grey image, on its haematoxylin channel, and as chosen.

Scores, with default settings, on the stained images of each split (``--splits``) of a
DSB2018-style folder, for each model of ``--models NAME=WEIGHTS`` (default: the bundled
``general`` and ``stained``), three ways (the ``stain`` setting):
- ``NAME-grey``: the colour image averaged to grey and inverted (the rule before ``stain``);
- ``NAME-H``: its haematoxylin amount (``skimage.color.rgb2hed``, channel 0),
  percentile-scaled (1-99.8) to 0-1: nuclei bright on dark, as in fluorescence;
- ``NAME-auto``: the default, the haematoxylin amount for eosin-rich images only
  (``_normalize.stain_channel``).

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

from napari_unet_nuclei._engine import NucleusModel
from napari_unet_nuclei._settings import Settings
from napari_unet_nuclei.training.dataset import read_index
from napari_unet_nuclei.training.evaluate import engine_labels, format_table, score_entries


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
        model = NucleusModel(weights or name, args.device)
        for way, stain in (("grey", "grey"), ("H", "haematoxylin"), ("auto", "auto")):
            ways[f"{name}-{way}"] = engine_labels(model, Settings(stain=stain))
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
