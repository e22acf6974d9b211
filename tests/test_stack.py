"""Stacks: axes guessing, plane-by-plane labels with stack-wide ids, Z linking, colour/channels."""

from __future__ import annotations

import numpy as np
import pytest
from _timelapse import (
    image_of,
    on_truth,
    predicted_links,
    shuffled,
    synthetic_movie,
    truth_links,
)

from napari_unet_nuclei import _engine, segment_nuclei
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._stack import (
    AmbiguousAxesError,
    check_axes,
    guess_axes,
    link_planes,
    match_labels,
    resolve_axes,
    track_nuclei,
)


@pytest.fixture
def cpu(tiny_weights) -> dict:
    """Where and with what to segment: the tiny model on the CPU."""
    return dict(device="cpu", weights=tiny_weights)


def plane(seed: int, size: int = 128) -> np.ndarray:
    return synthetic_nuclei((size, size), seed=seed)[0]


def ids(labels: np.ndarray) -> set[int]:
    return set(np.unique(labels).tolist()) - {0}


@pytest.mark.parametrize(
    ("shape", "axes", "ambiguous"),
    [
        ((512, 512), "YX", False),
        ((512, 512, 3), "YXC", False),
        ((512, 512, 4), "YXC", False),
        ((3, 512, 512), "CYX", True),
        ((2, 512, 512), "CYX", True),
        ((10, 256, 256), "ZYX", False),
        ((10, 256, 256, 3), "ZYXC", False),
        ((10, 3, 256, 256), "ZCYX", True),
        ((5, 10, 256, 256), "TZYX", True),
        ((512, 3, 3), "YXC", True),
    ],
)
def test_guess_axes(shape, axes, ambiguous):
    guess = guess_axes(shape)
    assert (guess.axes, guess.ambiguous) == (axes, ambiguous)
    assert guess.reason or not ambiguous


def test_two_channels_last_are_guessed_as_channels():
    assert guess_axes((256, 256, 2)) == guess_axes((256, 256, 2), rgb=False)
    assert guess_axes((256, 256, 2)).axes == "YXC" and not guess_axes((256, 256, 2)).ambiguous
    assert guess_axes((5, 256, 256, 2)).axes == "ZYXC"
    assert guess_axes((64, 2, 2)).axes == "ZYX"  # a 2 x 2 image: no channels guessed


def test_guess_axes_rgb_flag():
    assert guess_axes((8, 64, 3), rgb=False).axes == "ZYX"
    with pytest.raises(ValueError, match="rgb=True"):
        guess_axes((8, 64, 64), rgb=True)
    with pytest.raises(ValueError, match="guess"):
        guess_axes((2, 2, 2, 2, 64, 64))


def test_ambiguous_shape_raises_with_the_guess():
    with pytest.raises(AmbiguousAxesError) as info:
        resolve_axes((3, 64, 64), None)
    assert info.value.guess.axes == "CYX"
    assert resolve_axes((3, 64, 64), "zyx") == "ZYX"


@pytest.mark.parametrize(
    ("axes", "ndim", "match"),
    [
        ("YX", 3, "array has 3"),
        ("ZZX", 3, "at most once"),
        ("TZX", 3, "Y and X"),
        ("QYX", 3, "letters"),
    ],
)
def test_check_axes_rejects(axes, ndim, match):
    with pytest.raises(ValueError, match=match):
        check_axes(axes, ndim)


def test_time_lapse_ids_unique_per_plane_and_consecutive(cpu):
    stack = np.stack([plane(s) for s in range(3)])
    before = stack.copy()
    calls = []
    labels = segment_nuclei(stack, axes="TYX", progress=lambda d, t: calls.append((d, t)), **cpu)
    assert labels.shape == stack.shape and labels.dtype == np.uint16
    per_plane = [ids(p) for p in labels]
    assert all(len(s) > 5 for s in per_plane)
    assert sum(len(s) for s in per_plane) == len(set().union(*per_plane))  # disjoint
    assert set().union(*per_plane) == set(range(1, int(labels.max()) + 1))
    assert calls == sorted(calls) and calls[-1] == (3, 3)  # planes done, never going back
    assert sorted(set(calls)) == [(0, 3), (1, 3), (2, 3), (3, 3)]  # also called mid-plane
    np.testing.assert_array_equal(stack, before)


def test_each_plane_matches_the_2d_call(cpu):
    stack = np.stack([plane(s) for s in (4, 5)])
    labels = segment_nuclei(stack, axes="TYX", diameter=None, **cpu)
    alone = segment_nuclei(stack[1], diameter=None, **cpu)
    first = int(labels[0].max())
    np.testing.assert_array_equal(np.where(labels[1] > 0, labels[1] - first, 0), alone)


def test_z_stack_links_planes_into_3d_nuclei(cpu):
    volume = np.stack([plane(1)] * 3)
    flat = segment_nuclei(volume, axes="ZYX", **cpu)
    linked = segment_nuclei(volume, axes="ZYX", link_z=True, **cpu)
    n = len(ids(flat[0]))
    assert n > 5 and int(flat.max()) == 3 * n
    assert int(linked.max()) == n and ids(linked) == set(range(1, n + 1))
    np.testing.assert_array_equal(linked[0], linked[2])
    np.testing.assert_array_equal(linked[0] > 0, flat[0] > 0)


def test_tzyx_links_within_each_time_point_only(cpu):
    volume = np.stack([np.stack([plane(1)] * 2), np.stack([plane(2)] * 2)])
    labels = segment_nuclei(volume, axes="TZYX", link_z=True, **cpu)
    assert labels.shape == volume.shape
    np.testing.assert_array_equal(labels[0, 0], labels[0, 1])
    assert not ids(labels[0]) & ids(labels[1])
    with pytest.raises(ValueError, match="Z axis"):
        segment_nuclei(volume[0], axes="TYX", link_z=True, **cpu)


def test_axis_order_is_kept(cpu):
    stack = np.stack([plane(s, 96) for s in range(2)])
    zyx = segment_nuclei(stack, axes="ZYX", diameter=None, **cpu)
    yxz = segment_nuclei(np.moveaxis(stack, 0, -1), axes="YXZ", diameter=None, **cpu)
    np.testing.assert_array_equal(np.moveaxis(zyx, 0, -1), yxz)


def test_diameter_is_estimated_once_on_the_middle_plane(monkeypatch, cpu):
    decided, scales = [], []
    real_decide, real_maps = _engine.NucleusModel.decide, _engine.predict_maps

    def decide(self, source, settings, progress=None):
        decided.append(source.copy())
        return real_decide(self, source, settings, progress)

    def maps(*args, **kwargs):
        scales.append(kwargs["scale"])
        return real_maps(*args, **kwargs)

    monkeypatch.setattr(_engine.NucleusModel, "decide", decide)
    monkeypatch.setattr(_engine, "predict_maps", maps)
    stack = np.stack([plane(s, 96) for s in range(3)])
    segment_nuclei(stack, axes="TYX", **cpu)
    assert len(decided) == 1 and np.array_equal(decided[0], stack[1])
    assert len(set(scales[-2:])) == 1  # the other two planes at the middle plane's scale


def test_rgb_planes_pass_through_as_colour(cpu):
    grey = plane(3)
    rgb = np.stack([grey] * 3, axis=-1)
    labels = segment_nuclei(np.stack([rgb, rgb]), axes="TYXC", **cpu)
    assert labels.shape == (2,) + grey.shape
    np.testing.assert_array_equal(labels[0] > 0, segment_nuclei(rgb, **cpu) > 0)
    assert segment_nuclei(rgb, **cpu).shape == grey.shape  # YXC guessed


def test_channels_first_is_not_mistaken_for_z(cpu):
    cyx = np.stack([np.zeros((128, 128), np.uint16), plane(6), plane(7)])
    with pytest.raises(AmbiguousAxesError):
        segment_nuclei(cyx, **cpu)
    one = segment_nuclei(cyx, axes="CYX", channel=1, diameter=None, **cpu)
    np.testing.assert_array_equal(one, segment_nuclei(cyx[1], diameter=None, **cpu))
    colour = segment_nuclei(cyx, axes="CYX", diameter=None, **cpu)
    expected = segment_nuclei(np.moveaxis(cyx, 0, -1), diameter=None, **cpu)
    np.testing.assert_array_equal(colour, expected)


def test_channel_errors(cpu):
    five = np.zeros((5, 32, 32), np.uint16)
    with pytest.raises(ValueError, match="choose one"):
        segment_nuclei(five, axes="CYX", **cpu)
    with pytest.raises(ValueError, match="out of range"):
        segment_nuclei(five, axes="CYX", channel=5, **cpu)
    with pytest.raises(ValueError, match="no C axis"):
        segment_nuclei(five, axes="ZYX", channel=0, **cpu)


def test_match_labels_is_one_to_one_best_first():
    prev = np.zeros((20, 20), np.uint32)
    prev[2:8, 2:8] = 1
    prev[12:18, 12:18] = 2
    cur = np.zeros_like(prev)
    cur[2:8, 3:8] = 5  # IoU 30/36 with 1
    cur[2:8, 2:3] = 6  # IoU 6/36 with 1: below the threshold
    cur[12:15, 12:18] = 7  # IoU 0.5 with 2
    cur[15:18, 12:17] = 8  # IoU 15/36 with 2, loses to 7
    assert match_labels(prev, cur, 0.3) == {5: 1, 7: 2}
    assert match_labels(prev, cur, 0.9) == {}


def test_link_planes_does_not_modify_its_input():
    labels = np.zeros((3, 10, 10), np.uint32)
    labels[0, 2:6, 2:6], labels[1, 2:6, 3:7], labels[2, 7:9, 7:9] = 1, 2, 3
    before = labels.copy()
    linked = link_planes(labels)
    np.testing.assert_array_equal(labels, before)
    assert ids(linked[1]) == {1} and ids(linked[2]) == {3}


def test_cancel_in_the_first_size_estimating_pass_stops_at_once(monkeypatch, cpu):
    class Stop(Exception):
        pass

    passes: list[float] = []
    real = _engine.predict_maps

    def counting(*args, **kwargs):
        passes.append(kwargs["scale"])
        return real(*args, **kwargs)

    def cancel(done: int, total: int) -> None:
        raise Stop

    monkeypatch.setattr(_engine, "predict_maps", counting)
    stack = np.stack([plane(s) for s in range(3)])
    with pytest.raises(Stop):
        segment_nuclei(stack, axes="TYX", diameter="auto", progress=cancel, **cpu)
    assert passes == [1.0]  # the middle plane's first pass; no other plane, no second pass


# --- following nuclei over time (laptrack) ------------------------------------------------


def link_share(movie, tracked) -> tuple[float, float]:
    """(share of the true links found, share of the links made that are true)."""
    truth = truth_links(movie.labels, movie.parents)
    made = predicted_links(movie.labels, tracked.labels, tracked.parents)
    return len(truth & made) / len(truth), len(truth & made) / max(len(made), 1)


def test_tracking_keeps_each_nucleus_id_through_moves_divisions_and_a_gap():
    movie = synthetic_movie(frames=20, nuclei=16, divisions=3, seed=2)
    gone = int(movie.labels[8].max())  # missed in frame 8 only: a short gap
    movie.labels[8][movie.labels[8] == gone] = 0
    tracked = track_nuclei(shuffled(movie.labels))
    found, right = link_share(movie, tracked)
    print(f"tracking: {found:.4f} of the true links found, {right:.4f} of the links made true")
    assert found >= 0.98 and right >= 0.98
    assert (tracked.labels > 0).sum() == (movie.labels > 0).sum()  # the same masks
    before, after = tracked.labels[7], tracked.labels[9]
    assert set(np.unique(before[movie.labels[7] == gone])) == set(
        np.unique(after[movie.labels[9] == gone])
    ), "the nucleus missed in one frame keeps its id"
    assert len(tracked.parents) >= 4  # two daughters each of at least two of the 3 divisions


def test_the_daughters_of_a_division_name_their_mother():
    movie = synthetic_movie(frames=16, nuclei=9, divisions=2, seed=2)
    tracked = track_nuclei(shuffled(movie.labels))
    frames = {
        int(i): np.flatnonzero([(p == i).any() for p in tracked.labels])
        for i in np.unique(tracked.labels[tracked.labels > 0])
    }
    assert tracked.parents
    for daughter, mother in tracked.parents.items():
        assert frames[mother][-1] + 1 == frames[daughter][0]  # born when the mother ends
    assert sorted(tracked.parents.values()).count(mother) == 2


def test_tracks_rows_are_id_frame_and_centroid():
    movie = synthetic_movie(frames=5, nuclei=4, divisions=0, seed=1)
    tracked = track_nuclei(shuffled(movie.labels))
    assert tracked.tracks.shape == (5 * 4, 4)  # a row per nucleus and frame
    track, t, y, x = tracked.tracks[0]
    ys, xs = np.nonzero(tracked.labels[int(t)] == track)
    assert (y, x) == pytest.approx((ys.mean(), xs.mean()))
    assert list(tracked.tracks[:, 0]) == sorted(tracked.tracks[:, 0])


def test_tracking_takes_empty_frames_and_refuses_a_2d_image():
    movie = synthetic_movie(frames=6, nuclei=4, divisions=0, seed=3)
    movie.labels[0] = 0
    tracked = track_nuclei(movie.labels)
    assert not tracked.labels[0].any() and len(np.unique(tracked.labels)) == 5
    nothing = track_nuclei(np.zeros((3, 8, 8), np.uint16))  # no nucleus in any frame
    assert not nothing.labels.any() and nothing.tracks.shape == (0, 4) and not nothing.parents
    with pytest.raises(ValueError, match="T, Y, X"):
        track_nuclei(movie.labels[1])


@pytest.mark.slow
def test_segmented_and_tracked_with_the_bundled_model_keeps_ids():
    movie = synthetic_movie(frames=12, size=(192, 192), nuclei=9, divisions=2, seed=7)
    labels = segment_nuclei(image_of(movie.labels), axes="TYX", device="cpu")
    tracked = track_nuclei(labels)
    truth = truth_links(movie.labels, movie.parents)
    made = predicted_links(movie.labels, on_truth(movie.labels, tracked.labels), tracked.parents)
    found, right = len(truth & made) / len(truth), len(truth & made) / max(len(made), 1)
    print(f"bundled model + tracking: {found:.4f} of {len(truth)} true links, {right:.4f} true")
    assert found >= 0.95 and right >= 0.95
