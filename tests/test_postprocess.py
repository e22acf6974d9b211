"""Maps + threshold -> labels (``_postprocess``): hand-made maps, then any maps (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_unet_nuclei._postprocess import label_dtype, labels_from_maps, relabel_sequential
from napari_unet_nuclei.training.dataset import normalized_distance


def _touching_disks():
    yy, xx = np.mgrid[:64, :96]
    labels = np.zeros((64, 96), np.uint16)
    labels[(yy - 32) ** 2 + (xx - 30) ** 2 <= 15**2] = 1
    labels[((yy - 32) ** 2 + (xx - 58) ** 2 <= 15**2) & (labels == 0)] = 2
    return labels


def test_touching_disks_split_on_and_off():
    labels = _touching_disks()
    fg, dist = (labels > 0).astype(np.float32), normalized_distance(labels)
    assert labels_from_maps(fg, dist, split=True).max() == 2
    assert labels_from_maps(fg, dist, split=False).max() == 1


def test_split_loses_no_foreground_without_seeds():
    fg = np.zeros((20, 20), np.float32)
    fg[5:10, 5:10] = 1
    dist = np.zeros_like(fg)  # no seed anywhere
    out = labels_from_maps(fg, dist, split=True, min_size=0)
    assert out.max() == 1 and (out > 0).sum() == 25


def test_min_size_and_consecutive_ids():
    labels = np.zeros((10, 10), np.int64)
    labels[0, 0] = 3
    labels[5:9, 5:9] = 7
    out = relabel_sequential(labels, min_size=4)
    assert sorted(np.unique(out)) == [0, 1] and out.dtype == np.uint16


def test_many_labels_switch_to_uint32():
    assert label_dtype(65_535) == np.uint16 and label_dtype(65_536) == np.uint32
    labels = np.arange(70_000, dtype=np.int64).reshape(350, 200)
    out = relabel_sequential(labels)
    assert out.dtype == np.uint32 and out.max() == 69_999


def test_threshold_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="between 0 and 1"):
        labels_from_maps(np.zeros((4, 4)), np.zeros((4, 4)), threshold=1.5)


def test_inputs_are_not_modified():
    labels = _touching_disks()
    fg, dist = (labels > 0).astype(np.float32), normalized_distance(labels)
    fg0, dist0 = fg.copy(), dist.copy()
    labels_from_maps(fg, dist)
    np.testing.assert_array_equal(fg, fg0)
    np.testing.assert_array_equal(dist, dist0)


def test_coarse_seed_search_finds_the_same_cores_for_large_nuclei():
    from napari_unet_nuclei._postprocess import seed_peaks

    labels = _touching_disks()  # radius 15
    dist = normalized_distance(labels)
    fine, coarse = seed_peaks(dist), seed_peaks(dist, step=2)
    assert coarse.shape == fine.shape
    fg = (labels > 0).astype(np.float32)
    assert labels_from_maps(fg, dist, peaks=coarse).max() == 2
    assert labels_from_maps(fg, dist, peaks=fine).max() == 2


# Property tests (hypothesis): any maps, any threshold.

maps = st.integers(4, 24).flatmap(
    lambda h: st.integers(4, 24).flatmap(
        lambda w: st.tuples(
            arrays(np.float32, (h, w), elements=st.floats(0, 1, width=32)),
            arrays(np.float32, (h, w), elements=st.floats(0, 1, width=32)),
        )
    )
)
settings.register_profile("ci", max_examples=60, deadline=None)
settings.load_profile("ci")


@given(maps, st.floats(0, 1), st.booleans(), st.integers(0, 6))
def test_labels_are_consecutive_and_background_stays_zero(m, t, split, min_size):
    fg, dist = m
    labels = labels_from_maps(fg, dist, t, split, min_size)
    assert labels.shape == fg.shape
    ids = np.unique(labels)
    assert list(ids[ids > 0]) == list(range(1, int(labels.max()) + 1))
    assert not labels[fg <= t].any()


@given(maps, st.floats(0, 1), st.floats(0, 1), st.booleans())
def test_raising_the_threshold_never_adds_foreground(m, t1, t2, split):
    fg, dist = m
    low, high = sorted((t1, t2))
    min_size = 0 if split else 4  # without splitting, any minimum size keeps this property
    lo = labels_from_maps(fg, dist, low, split, min_size) > 0
    hi = labels_from_maps(fg, dist, high, split, min_size) > 0
    assert not (hi & ~lo).any()


@given(maps, st.floats(0, 1))
def test_inputs_are_left_untouched(m, t):
    fg, dist = m
    before = fg.copy(), dist.copy()
    labels_from_maps(fg, dist, t, True, 2)
    np.testing.assert_array_equal(fg, before[0])
    np.testing.assert_array_equal(dist, before[1])
