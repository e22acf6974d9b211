"""Instance-matching scores: AP at IoU thresholds and the DSB2018 score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DSB_THRESHOLDS = tuple(np.round(np.arange(0.5, 1.0, 0.05), 2))


def iou_pairs(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of every overlapping (gt, pred) pair as an (n_gt+1, n_pred+1) dense matrix."""
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: {gt.shape} vs {pred.shape}")
    g, p = gt.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    ng, npd = int(g.max(initial=0)) + 1, int(p.max(initial=0)) + 1
    inter = np.bincount(g * npd + p, minlength=ng * npd).reshape(ng, npd).astype(np.float64)
    area_g, area_p = inter.sum(1, keepdims=True), inter.sum(0, keepdims=True)
    union = area_g + area_p - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class Counts:
    """True/false positives and false negatives at one IoU threshold."""

    tp: int
    fp: int
    fn: int

    @property
    def ap(self) -> float:
        """TP / (TP + FP + FN); 1 when there is nothing to find and nothing found."""
        total = self.tp + self.fp + self.fn
        return self.tp / total if total else 1.0


def match_counts(
    gt: np.ndarray, pred: np.ndarray, thresholds: tuple[float, ...] = DSB_THRESHOLDS
) -> list[Counts]:
    """One-to-one matches at IoU > tau (unique for tau >= 0.5), per threshold."""
    iou = iou_pairs(gt, pred)[1:, 1:]
    n_gt = int(np.count_nonzero(np.bincount(gt.ravel())[1:]))
    n_pred = int(np.count_nonzero(np.bincount(pred.ravel())[1:]))
    out = []
    for tau in thresholds:
        if tau < 0.5:
            raise ValueError("matching is only one-to-one for IoU thresholds >= 0.5")
        tp = int((iou > tau).sum())
        out.append(Counts(tp, n_pred - tp, n_gt - tp))
    return out
