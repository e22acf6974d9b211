"""Big images block by block: margins, agreement with a whole-image run, reads, threads."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
from _helpers import best_iou

from napari_unet_nuclei import NucleusModel, Settings, predict, segment_blocks
from napari_unet_nuclei._blocks import as_image2d
from napari_unet_nuclei._large import create_output
from napari_unet_nuclei._stack import AmbiguousAxesError
from napari_unet_nuclei._synthetic import _paint_ellipse, _render, synthetic_nuclei


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
    reference = predict(image, "cpu", tile_size=2048).labels()  # the 2D path
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
    run = dict(block_size=128, margin=64, device="cpu", weights=tiny_weights)
    labels = segment_blocks(image, diameter=None, **run)
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
    run = dict(block_size=128, margin=32, device="cpu", weights=tiny_weights)
    expected = segment_blocks(image, **run)
    assert expected.max() > 20
    lazy = segment_blocks(da.from_array(image, chunks=100), **run)
    z = zarr.open_array(
        str(tmp_path / "in.zarr"), mode="w", shape=image.shape, chunks=(100, 100), dtype=image.dtype
    )
    z[:] = image
    on_disk = segment_blocks(as_image2d(z), **run)
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
    one, n1 = blocks_of(model, image512[0], decided512, block_size=128, workers=1)
    three, n3 = blocks_of(model, image512[0], decided512, block_size=128, workers=3)
    assert n1 == n3 > 100 and np.array_equal(one, three)


def test_stopping_a_threaded_run_returns_at_once(image512, tiny_weights):
    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        segment_blocks(
            image512[0],
            block_size=128,
            workers=2,
            progress=progress,
            device="cpu",
            weights=tiny_weights,
        )
