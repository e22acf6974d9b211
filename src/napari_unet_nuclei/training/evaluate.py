"""Scores on a split of a DSB2018-style folder: AP@0.5/0.7/0.9 and the DSB2018 score."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .._api import predict
from .dataset import read_index, read_pair
from .metrics import DSB_THRESHOLDS, Counts, match_counts

REPORTED = (0.5, 0.7, 0.9)


def _pooled_ap(per_image: list[list[Counts]], index: int) -> float:
    tp = sum(c[index].tp for c in per_image)
    total = sum(c[index].tp + c[index].fp + c[index].fn for c in per_image)
    return tp / total if total else 1.0


def summarize(per_image: list[list[Counts]]) -> dict[str, float]:
    """Pooled AP at the reported thresholds and the mean per-image DSB score."""
    row = {f"AP@{t}": _pooled_ap(per_image, DSB_THRESHOLDS.index(t)) for t in REPORTED}
    row["DSB"] = float(np.mean([np.mean([c.ap for c in counts]) for counts in per_image]))
    row["images"] = len(per_image)
    return row


def evaluate(
    data: str | Path,
    split: str = "val",
    weights: str | None = None,
    device: str = "auto",
    threshold: float | None = None,
    split_touching: bool = True,
    limit: int | None = None,
    **predict_options,
) -> dict[str, dict[str, float]]:
    """Scores for all images of a split and per ``kind``."""
    entries = read_index(data, split)[:limit]
    if not entries:
        raise ValueError(f"No images in split {split!r} of {data}")
    groups: dict[str, list[list[Counts]]] = defaultdict(list)
    for entry in entries:
        image, gt = read_pair(entry)
        pred = predict(image, device, weights, **predict_options).labels(threshold, split_touching)
        counts = match_counts(gt, pred)
        groups["all"].append(counts)
        groups[entry.kind].append(counts)
    return {kind: summarize(rows) for kind, rows in groups.items()}


def format_table(scores: dict[str, dict[str, float]]) -> str:
    """A plain-text table, one row per group."""
    cols = [f"AP@{t}" for t in REPORTED] + ["DSB"]
    lines = [f"{'kind':<14}{'images':>7}" + "".join(f"{c:>9}" for c in cols)]
    for kind, row in sorted(scores.items(), key=lambda kv: kv[0] != "all"):
        lines.append(f"{kind:<14}{row['images']:>7}" + "".join(f"{row[c]:>9.3f}" for c in cols))
    return "\n".join(lines)
