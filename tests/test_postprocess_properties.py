"""Property tests (hypothesis) for the post-processing: any maps, any threshold."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_unet_nuclei._postprocess import labels_from_maps

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
