"""Tests of _tiling: tiles, blocks, seams and block-wise post-processing."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
from _helpers import best_iou
from scipy import ndimage as ndi

from napari_unet_nuclei import (
    NucleusModel,
    Prediction,
    Settings,
    _prediction,
    predict,
    segment_nuclei,
)
from napari_unet_nuclei._io import as_image2d
from napari_unet_nuclei._postprocess import labels_from_maps, seed_peaks
from napari_unet_nuclei._sample_data import _paint_ellipse, _render, synthetic_nuclei
from napari_unet_nuclei._stack import AmbiguousAxesError
from napari_unet_nuclei._tiling import (
    PARALLEL_PIXELS,
    Block,
    labels_in_blocks,
    peaks_in_blocks,
    plan_blocks,
    stitch_block,
    use_blocks,
)
from napari_unet_nuclei.batch.large import create_output
from napari_unet_nuclei.training.dataset import normalized_distance


def test_plan_blocks_tiles_the_image_once():
    blocks = plan_blocks((500, 300), block=128, margin=20)
    cover = np.zeros((500, 300), int)
    for b in blocks:
        cover[b.inner] += 1
        (iy, ix), (ry, rx) = b.inner, b.region
        assert ry.start == max(0, iy.start - 20) and ry.stop == min(500, iy.stop + 20)
        assert rx.start == max(0, ix.start - 20) and rx.stop == min(300, ix.stop + 20)
    assert (cover == 1).all() and len(blocks) == 4 * 3
    assert blocks[1].inner[1].start == 128  # raster order: along x first


def test_stitch_gives_a_seam_object_one_label_and_never_overwrites():
    out = np.zeros((10, 20), np.uint32)
    left = Block((slice(0, 10), slice(0, 10)), (slice(0, 10), slice(0, 14)))
    right = Block((slice(0, 10), slice(10, 20)), (slice(0, 10), slice(6, 20)))
    a = np.zeros((10, 14), np.uint16)
    a[2:6, 7:13] = 1  # straddles x = 10
    a[7:9, 11:14] = 2  # only in the left margin: the right block writes it
    next_id = stitch_block(out, left, a, 1, min_size=1)
    assert next_id == 2 and set(np.unique(out)) == {0, 1}
    b = np.zeros((10, 14), np.uint16)
    b[2:6, 1:8] = 1  # the same nucleus seen from the right, slightly wider
    b[7:9, 5:9] = 2
    b[0:2, 10:14] = 3
    assert stitch_block(out, right, b, next_id, min_size=1) == 4
    assert set(np.unique(out[2:6, 7:13])) == {1}
    assert (out[7:9, 11:15] == 2).all() and (out[0:2, 16:20] == 3).all()


def test_stitch_drops_what_earlier_blocks_covered_and_tiny_leftovers():
    out = np.zeros((8, 8), np.uint32)
    out[0:4, 0:4] = 9
    block = Block((slice(0, 8), slice(0, 8)), (slice(0, 8), slice(0, 8)))
    labels = np.zeros((8, 8), np.uint16)
    labels[0:4, 0:5] = 1  # 16 of its 20 pixels are taken: skipped
    labels[5:8, 0:8] = 2
    labels[3:5, 6:8] = 3  # 4 pixels: under min_size once written
    assert stitch_block(out, block, labels, 10, min_size=5) == 11
    assert set(np.unique(out)) == {0, 9, 10} and (out[5:8] == 10).all()


@pytest.fixture(scope="module")
def image512() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_nuclei((512, 512), seed=11)


@pytest.fixture(scope="module")
def model(tiny_weights) -> NucleusModel:
    return NucleusModel(tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def decided512(image512, model):
    """(settings, decisions) of the 512² image, made once as the engine makes them.

    At the model's nucleus size (no resampling), so that a block sees the very pixels the
    whole image does: the labels must then agree exactly, not within interpolation.
    """
    s = Settings(diameter=16.0)
    return s, model.decide(image512[0], s)[0]


def blocks_of(model, image, decided, block_size=2048, margin=None, **options):
    """``label_blocks`` with the module's decisions: (labels, count)."""
    s, d = decided
    settings = Settings.of(**{**s.as_dict(), "block_size": block_size, **options})
    return model.label_blocks(image, None, None, margin, settings, d)


def whole_region(model, image, decided, tile):
    """The same decisions applied to the whole image as one region (no blocks, one tile)."""
    s, d = decided
    return model.label_region(image, Settings.of(**{**s.as_dict(), "tile_size": tile}), d)


def test_margin_covers_two_largest_nuclei(model, decided512):
    s, d = decided512
    margin = model.plan((4096, 4096), s, d)[0].region[0].stop - 2048
    assert margin >= 4 * d.size and margin >= 64
    from dataclasses import replace

    big = replace(d, estimate=40.0, scale=0.5)
    assert model.plan((4096, 4096), s, big)[0].region[0].stop - 2048 >= 160 + 64


@pytest.mark.slow
def test_blocks_agree_with_the_whole_image_2048():
    """2048^2, real weights, 16 blocks of 512: every nucleus matched with IoU >= 0.95."""
    image, _ = synthetic_nuclei((2048, 2048), seed=3)
    model = NucleusModel(device="cpu")
    decided = Settings(), model.decide(image, Settings())[0]
    blocked, count = blocks_of(model, image, decided, block_size=512)
    whole = whole_region(model, image, decided, 2048)  # same decisions, no blocks, no tiles
    assert count == int(blocked.max()) == len(np.unique(blocked)) - 1 > 2000
    assert best_iou(whole, blocked).min() >= 0.95 and best_iou(blocked, whole).min() >= 0.95
    reference = predict(image, device="cpu", tile_size=2048).labels()  # the 2D path
    assert np.mean(best_iou(reference, blocked) >= 0.95) >= 0.99


def test_nuclei_across_block_boundaries_get_one_label(image512, model, decided512):
    image = image512[0]
    labels, count = blocks_of(model, image, decided512, block_size=128)
    whole = whole_region(model, image, decided512, 2048)
    seams = np.zeros(whole.shape, bool)
    seams[128::128, :] = seams[:, 128::128] = True
    crossing = np.unique(whole[seams & (whole > 0)])
    assert crossing.size > 20 and count == len(np.unique(labels)) - 1
    for obj in crossing:
        found = np.unique(labels[whole == obj])
        assert found.size == 1 and found[0] > 0
    assert best_iou(whole, labels)[crossing - 1].min() >= 0.95


def test_a_nucleus_on_a_four_block_corner_gets_one_label(tiny_weights):
    truth = np.zeros((256, 256), np.uint16)
    for i, (y, x) in enumerate([(128, 128), (40, 40), (40, 200), (200, 60), (210, 200)], 1):
        _paint_ellipse(truth, y, x, 14, 11, 0.3, i)
    image = _render(truth, np.random.default_rng(0))
    run = dict(block_size=128, margin=64, device="cpu", weights=tiny_weights, big_image_pixels=1)
    labels = segment_nuclei(image, diameter=None, **run)
    count = int(labels.max())
    found, n = np.unique(labels[truth == 1], return_counts=True)
    assert found[np.argmax(n)] > 0 and n.max() >= 0.85 * (truth == 1).sum()
    assert len(found[found > 0]) == 1 and count >= 5


def test_reads_one_block_plus_margin_at_a_time(image512, model, decided512):
    reads = []

    class Recording:
        shape, dtype = image512[0].shape, image512[0].dtype

        def __getitem__(self, key):
            part = image512[0][key]
            reads.append(part.shape)
            return part

    blocks_of(model, Recording(), decided512, block_size=256, margin=48)
    assert len(reads) == 4 and max(h * w for h, w in reads) <= (256 + 2 * 48) ** 2


def test_dask_and_zarr_sources_give_the_same_labels(image512, tmp_path, tiny_weights):
    image = image512[0][:256, :256]
    run = dict(block_size=128, margin=32, device="cpu", weights=tiny_weights, big_image_pixels=1)
    expected = segment_nuclei(image, **run)
    assert expected.max() > 20
    lazy = segment_nuclei(da.from_array(image, chunks=100), **run)
    z = zarr.open_array(
        str(tmp_path / "in.zarr"), mode="w", shape=image.shape, chunks=(100, 100), dtype=image.dtype
    )
    z[:] = image
    on_disk = segment_nuclei(as_image2d(z), **run)
    np.testing.assert_array_equal(lazy, expected)
    np.testing.assert_array_equal(on_disk, expected)


def test_ambiguous_and_stacked_sources_are_refused():
    with pytest.raises(AmbiguousAxesError):
        as_image2d(np.zeros((3, 64, 64), np.uint16))
    with pytest.raises(ValueError, match="stack"):
        as_image2d(np.zeros((5, 64, 64), np.uint16), axes="ZYX")
    assert as_image2d(np.zeros((1, 3, 64, 64), np.uint16), channel=2).shape == (64, 64)
    assert as_image2d(np.zeros((64, 64, 3), np.uint8)).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="write big labels"):
        create_output("labels.png", (10, 10))


def test_blocks_labelled_side_by_side_give_the_same_labels(image512, model, decided512):
    one, n1 = blocks_of(model, image512[0], decided512, block_size=128, block_threads=1)
    three, n3 = blocks_of(model, image512[0], decided512, block_size=128, block_threads=3)
    assert n1 == n3 > 100 and np.array_equal(one, three)


def test_stopping_a_threaded_run_returns_at_once(image512, tiny_weights):
    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        segment_nuclei(
            image512[0],
            big_image_pixels=1,
            block_size=128,
            block_threads=2,
            progress=progress,
            device="cpu",
            weights=tiny_weights,
        )


@pytest.fixture(scope="module")
def maps() -> Prediction:
    """Nucleus-like maps made without a network: the true ones, blurred, with some noise.

    As a trained network's, the distance falls to about 0 between nuclei, so each seed
    depends on its own nucleus only. (A random network's distance map stays near 0.4
    everywhere: its seeds depend on saddles far away, beyond any block's margin.)
    """
    _, truth = synthetic_nuclei((700, 900), seed=8)
    noise = np.random.default_rng(8).normal(0, 0.02, (2, *truth.shape))
    exact = np.stack([(truth > 0).astype(np.float32), normalized_distance(truth)])
    fg, dist = np.clip(ndi.gaussian_filter(exact, (0, 1.5, 1.5)) + noise, 0, 1)
    return Prediction(fg.astype(np.float32), dist.astype(np.float32))


def test_block_seeds_and_labels_equal_the_whole_maps(maps):
    """Blocks of 256 px in two threads give the labels of the maps in one piece."""
    fg, dist = maps.foreground, maps.distance
    for step in (1, 2):
        blocked_peaks = peaks_in_blocks(dist, 16.0, step, workers=2, block=256)
        assert np.array_equal(blocked_peaks, seed_peaks(dist, step=step))
    peaks = seed_peaks(dist)
    whole = labels_from_maps(fg, dist, 0.5, True, 20, peaks)
    blocked = labels_in_blocks(fg, dist, 0.5, True, 20, peaks, 16.0, workers=2, block=256)
    assert blocked.dtype == whole.dtype and blocked.max() == whole.max() > 300
    assert np.array_equal(blocked > 0, whole > 0)
    assert best_iou(whole, blocked).min() == 1.0 and best_iou(blocked, whole).min() == 1.0


@pytest.mark.slow  # labels 10 MP of maps three times
def test_predictions_use_blocks_only_when_big_and_the_size_is_known(maps, monkeypatch):
    assert use_blocks((4000, 4000), 16.0, 2) and not use_blocks((4000, 4000), None, 2)
    assert not use_blocks((300, 300), 16.0, 2) and not use_blocks((4000, 4000), 16.0, 1)
    calls = []
    real = _prediction.labels_in_blocks

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_prediction, "labels_in_blocks", counted)
    reps = (4, 4)  # 2800 x 3600 maps: past PARALLEL_PIXELS
    fg, dist = np.tile(maps.foreground, reps), np.tile(maps.distance, reps)
    assert fg.size > PARALLEL_PIXELS
    known = Prediction(fg, dist, expected_diameter=16.0, block_threads=2)
    assert known.labels().max() > 4000 and calls
    calls.clear()
    unknown = Prediction(fg, dist, block_threads=2)
    unknown.labels(0.6)
    assert not calls
    one_thread = Prediction(fg, dist, expected_diameter=16.0, block_threads=1)
    assert best_iou(one_thread.labels(), known.labels()).min() == 1.0 and not calls
