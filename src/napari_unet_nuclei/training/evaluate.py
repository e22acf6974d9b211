"""Scores on a split of DSB2018-style folders: AP@0.5/0.7/0.9 and the DSB2018 score.

Labels come from the engine (``NucleusModel.segment``) with the given settings, as the
command line and the widget make them; scores are per folder and, within it, per kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._engine import NucleusModel
from .._settings import Settings
from .dataset import Entry, read_index, read_pair
from .metrics import DSB_THRESHOLDS, Counts, match_counts

REPORTED = (0.5, 0.7, 0.9)
Scores = dict[str, dict[str, float]]  # kind (or "all") -> row


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


def engine_labels(model: NucleusModel, settings: Settings) -> Callable[[np.ndarray], np.ndarray]:
    """A function giving the labels of an image by ``model.segment``: the pipeline users run."""

    def labels(image: np.ndarray) -> np.ndarray:
        return model.segment(image, settings=settings).labels

    return labels


def score_entries(entries: Sequence[Entry], labels: Callable[[np.ndarray], np.ndarray]) -> Scores:
    """Scores of ``labels(image)`` against each entry's labels: all, and per ``kind``."""
    groups: dict[str, list[list[Counts]]] = defaultdict(list)
    for entry in entries:
        image, gt = read_pair(entry)
        counts = match_counts(gt, labels(image))
        groups["all"].append(counts)
        groups[entry.kind].append(counts)
    return {kind: summarize(rows) for kind, rows in groups.items()}


def folder_names(folders: Sequence[str | Path]) -> list[str]:
    """A short name per folder: its own name, or the whole path where two names clash."""
    names = [Path(f).name or str(f) for f in folders]
    return [n if names.count(n) == 1 else str(f) for n, f in zip(names, folders, strict=True)]


def evaluate_folders(
    folders: Sequence[str | Path],
    split: str | None = "val",
    weights: str | None = None,
    device: str = "auto",
    limit: int | None = None,
    settings: Settings | None = None,
) -> dict[str, Scores]:
    """Scores per folder (then per kind) for the images of ``split`` in each folder.

    ``split`` ``"all"`` (or None): every image of the folder, whatever its split.
    ``settings``: how to segment (default ``Settings()``, as the command line's defaults).
    Every index is read before the model runs, so a bad folder fails first.
    """
    rows = None if split in (None, "all") else split
    entries = [read_index(folder, rows)[:limit] for folder in folders]
    labels = engine_labels(NucleusModel(weights, device), settings or Settings())
    return {
        name: score_entries(rows, labels)
        for name, rows in zip(folder_names(folders), entries, strict=True)
    }


def evaluate(
    data: str | Path,
    split: str = "val",
    weights: str | None = None,
    device: str = "auto",
    threshold: float | None = None,
    split_touching: bool = True,
    limit: int | None = None,
    **settings,
) -> Scores:
    """Scores for all images of a split of one folder and per ``kind``.

    ``settings``: further ``Settings`` by name (min_size, diameter, tta, precision, ...).
    """
    s = Settings.of(threshold=threshold, split=split_touching, **settings)
    scores = evaluate_folders([data], split, weights, device, limit, s)
    return next(iter(scores.values()))


def format_table(scores: Scores | dict[str, Scores]) -> str:
    """A plain-text table, one row per kind (per folder, then kind, for several folders)."""
    nested = all(isinstance(v, dict) and "images" not in v for v in scores.values())
    by_folder = scores if nested else {"": scores}
    cols = [f"AP@{t}" for t in REPORTED] + ["DSB"]
    width = max([len(f) for f in by_folder] + [6]) + 2 if nested else 0
    head = f"{'folder':<{width}}" if nested else ""
    lines = [head + f"{'kind':<14}{'images':>7}" + "".join(f"{c:>9}" for c in cols)]
    for folder, rows in by_folder.items():
        for kind, row in sorted(rows.items(), key=lambda kv: kv[0] != "all"):
            cells = "".join(f"{row[c]:>9.3f}" for c in cols)
            lines.append(f"{folder:<{width}}{kind:<14}{row['images']:>7}" + cells)
    return "\n".join(lines)
