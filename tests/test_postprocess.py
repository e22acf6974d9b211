"""Maps + threshold -> labels (``_postprocess``): hand-made maps, then any maps (hypothesis);
then the torch code on tensors, which must give the CPU's labels."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi

from napari_unet_nuclei._postprocess import (
    label_components_torch,
    label_dtype,
    labels_from_maps,
    relabel_sequential,
    relabel_sequential_torch,
    seed_peaks,
)
from napari_unet_nuclei._sample_data import synthetic_nuclei
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


# The same post-processing in torch (``labels_on_device``), run here on CPU tensors and, where
# torch sees a GPU, on it too: the device labels must be the CPU's.

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _on(device: str, *arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays]


def _nucleus_maps(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Maps like the network's: blurred targets of synthetic nuclei, with a little noise."""
    labels = synthetic_nuclei((size, size), seed=seed)[1]
    rng = np.random.default_rng(seed)
    fg = ndi.gaussian_filter((labels > 0).astype(np.float32), 1.5)
    dist = ndi.gaussian_filter(normalized_distance(labels), 1.0)
    noise = rng.normal(0, 0.02, (2, size, size)).astype(np.float32)
    return np.clip(fg + noise[0], 0, 1), np.clip(dist + noise[1], 0, 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("step", [1, 2])
def test_device_seeds_are_the_cpu_seeds(device, step):
    _, dist = _nucleus_maps(192, seed=1)
    cpu = seed_peaks(dist, step=step)
    (dist_t,) = _on(device, dist)
    on_device = seed_peaks(dist_t, step=step)
    assert isinstance(on_device, torch.Tensor) and cpu.sum() > 20
    np.testing.assert_array_equal(on_device.cpu().numpy(), cpu)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("split", [True, False])
def test_device_labels_are_the_cpu_labels_on_nucleus_maps(device, split):
    fg, dist = _nucleus_maps(256, seed=2)
    cpu = labels_from_maps(fg, dist, 0.5, split)
    on_device = labels_from_maps(*_on(device, fg, dist), 0.5, split)
    assert on_device.dtype == cpu.dtype and cpu.max() > 30
    np.testing.assert_array_equal(on_device, cpu)


def test_device_labels_split_touching_disks_with_precomputed_peaks():
    labels = _touching_disks()
    fg, dist = (labels > 0).astype(np.float32), normalized_distance(labels)
    peaks = seed_peaks(torch.from_numpy(dist), step=2)
    out = labels_from_maps(*_on("cpu", fg, dist), peaks=peaks)
    np.testing.assert_array_equal(out, labels_from_maps(fg, dist, peaks=peaks.numpy()))
    assert out.max() == 2


@pytest.mark.parametrize("device", DEVICES)
def test_device_relabelling_switches_to_uint32_past_65535(device):
    labels = np.arange(70_000, dtype=np.int64).reshape(350, 200)
    (labels_t,) = _on(device, labels)
    out = relabel_sequential_torch(labels_t, min_size=0)
    assert out.dtype == np.uint32 and out.max() == 69_999
    np.testing.assert_array_equal(out, relabel_sequential(labels))


masks = st.integers(1, 20).flatmap(
    lambda h: st.integers(1, 20).flatmap(lambda w: arrays(bool, (h, w)))
)


@given(masks)
def test_device_components_are_ndimage_components_in_the_same_order(mask):
    expected, n = ndi.label(mask)
    labels, m = label_components_torch(torch.from_numpy(mask))
    assert m == n
    np.testing.assert_array_equal(labels.numpy(), expected)


@given(
    st.integers(4, 24),
    st.integers(4, 24),
    st.integers(0, 2**32 - 1),
    st.floats(0, 1),
    st.booleans(),
    st.integers(0, 6),
)
def test_device_labels_equal_the_cpu_labels_on_any_maps(h, w, seed, t, split, min_size):
    """Maps of distinct random values (the network's floats rarely tie)."""
    fg, dist = np.random.default_rng(seed).random((2, h, w), dtype=np.float32)
    cpu = labels_from_maps(fg, dist, t, split, min_size)
    np.testing.assert_array_equal(labels_from_maps(*_on("cpu", fg, dist), t, split, min_size), cpu)


@given(maps)
def test_device_labels_on_tied_maps_keep_every_seed_and_all_foreground(m):
    """Equal distances may be flooded in another order than skimage's, nothing else."""
    fg, dist = m
    cpu = labels_from_maps(fg, dist, 0.5, True, 0)
    out = labels_from_maps(*_on("cpu", fg, dist), 0.5, True, 0)
    assert out.max() == cpu.max()
    np.testing.assert_array_equal(out > 0, cpu > 0)


def test_device_inputs_are_left_untouched():
    fg, dist = _on("cpu", *_nucleus_maps(64, seed=3))
    before = fg.clone(), dist.clone()
    labels_from_maps(fg, dist, 0.4, True, 5)
    assert torch.equal(fg, before[0]) and torch.equal(dist, before[1])


def test_when_the_device_memory_runs_out_the_host_labels_the_same(monkeypatch):
    from napari_unet_nuclei import _postprocess

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (a stand-in)")

    fg, dist = _nucleus_maps(192, seed=3)
    cpu_peaks, cpu = seed_peaks(dist), labels_from_maps(fg, dist, 0.5, True)
    monkeypatch.setattr(_postprocess, "seed_peaks_torch", out_of_memory)
    monkeypatch.setattr(_postprocess, "labels_on_device", out_of_memory)
    fg_t, dist_t = _on("cpu", fg, dist)
    with pytest.warns(RuntimeWarning, match="memory ran out"):
        peaks = seed_peaks(dist_t)
    np.testing.assert_array_equal(peaks, cpu_peaks)
    with pytest.warns(RuntimeWarning, match="memory ran out"):
        labels = labels_from_maps(fg_t, dist_t, 0.5, True)
    np.testing.assert_array_equal(labels, cpu)
    # host peaks (after the search ran out): the host labels, without trying the device again
    np.testing.assert_array_equal(labels_from_maps(fg_t, dist_t, 0.5, True, peaks=peaks), cpu)
