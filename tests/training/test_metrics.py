import numpy as np

from napari_unet_nuclei.training.evaluate import summarize
from napari_unet_nuclei.training.metrics import match_counts


def _two_squares():
    gt = np.zeros((20, 20), np.uint16)
    gt[2:8, 2:8] = 1
    gt[10:18, 10:18] = 2
    return gt


def test_identical_labels_score_one():
    gt = _two_squares()
    counts = match_counts(gt, gt)
    assert all(c.tp == 2 and c.fp == 0 and c.fn == 0 for c in counts)
    assert summarize([counts])["DSB"] == 1.0


def test_missed_and_spurious_objects_are_counted():
    gt = _two_squares()
    pred = np.zeros_like(gt)
    pred[2:8, 2:8] = 5
    pred[0:2, 15:20] = 9
    c = match_counts(gt, pred, (0.5,))[0]
    assert (c.tp, c.fp, c.fn) == (1, 1, 1)
    assert abs(c.ap - 1 / 3) < 1e-9


def test_iou_threshold_is_strict():
    gt = np.zeros((10, 10), np.uint16)
    gt[0:4, 0:4] = 1
    pred = np.zeros_like(gt)
    pred[0:4, 0:2] = 1  # IoU exactly 0.5: not a match at tau = 0.5
    assert match_counts(gt, pred, (0.5,))[0].tp == 0


def test_empty_image_is_perfect_when_nothing_predicted():
    z = np.zeros((5, 5), np.uint16)
    assert match_counts(z, z, (0.5,))[0].ap == 1.0
