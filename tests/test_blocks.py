"""Big images in blocks: the plan, seam-free stitching, agreement with a whole-image run, files."""

from __future__ import annotations

import argparse

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from napari_unet_nuclei import NucleusModel, Settings, predict, segment_blocks
from napari_unet_nuclei._blocks import as_image2d
from napari_unet_nuclei._cli_large import add_arguments, run
from napari_unet_nuclei._large import create_output, segment_large
from napari_unet_nuclei._normalize import Normalization, fit_normalization
from napari_unet_nuclei._sources import open_source
from napari_unet_nuclei._stack import AmbiguousAxesError
from napari_unet_nuclei._stitch import Block, plan_blocks, stitch_block
from napari_unet_nuclei._synthetic import _paint_ellipse, _render, synthetic_nuclei


def best_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For every object of ``a`` (ids 1..N), its best IoU with an object of ``b``."""
    both = (a > 0) & (b > 0)
    base = int(b.max()) + 1
    keys, inter = np.unique(a[both].astype(np.int64) * base + b[both], return_counts=True)
    ai, bi = keys // base, keys % base
    union = np.bincount(a.ravel())[ai] + np.bincount(b.ravel())[bi] - inter
    best = np.zeros(int(a.max()) + 1)
    np.maximum.at(best, ai, inter / union)
    return best[1:]


@pytest.fixture(scope="module")
def image512() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_nuclei((512, 512), seed=11)


@pytest.fixture(scope="module")
def model() -> NucleusModel:
    return NucleusModel(device="cpu")


@pytest.fixture(scope="module")
def decided512(image512, model):
    """(settings, decisions) of the 512² image, made once as the engine makes them."""
    s = Settings()
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


def test_one_normalisation_fit_reads_a_subsample_and_matches_dask(image512):
    image = image512[0]
    fit = fit_normalization(image)
    assert fit.low < fit.high and fit.invert is False
    assert fit_normalization(da.from_array(image, chunks=100)) == fit
    assert fit_normalization(65535 - image).invert is True
    assert fit_normalization(image, pixels=10_000) != fit  # a strided sample of a big image


def test_normalization_apply_leaves_input_alone():
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    norm = Normalization(1.0, 11.0, invert=True).apply(image)
    assert norm.dtype == np.float32 and norm[0, 1] == pytest.approx(1.0)
    assert image[0, 1] == 1


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


@pytest.mark.slow
def test_segment_large_and_segment_give_the_same_nuclei_3000(tmp_path):
    """3000², real weights: ``segment-large`` (blocks of 1024) against the in-memory path."""
    image, _ = synthetic_nuclei((3000, 3000), seed=5)
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, image, tile=(256, 256))
    large = segment_large(source, tmp_path / "labels.tif", block_size=1024, device="cpu")
    blocked = tifffile.imread(large.output)
    whole = NucleusModel(device="cpu").segment(image)
    assert large.count == int(blocked.max()) > 5000
    assert np.mean(best_iou(whole, blocked) >= 0.9) >= 0.995
    assert np.mean(best_iou(blocked, whole) >= 0.9) >= 0.995


def test_nuclei_across_block_boundaries_get_one_label(image512, model, decided512):
    image = image512[0]
    labels, count = blocks_of(model, image, decided512, block_size=128)
    whole = whole_region(model, image, decided512, 512)
    seams = np.zeros(whole.shape, bool)
    seams[128::128, :] = seams[:, 128::128] = True
    crossing = np.unique(whole[seams & (whole > 0)])
    assert crossing.size > 20 and count == len(np.unique(labels)) - 1
    for obj in crossing:
        found = np.unique(labels[whole == obj])
        assert found.size == 1 and found[0] > 0
    assert best_iou(whole, labels)[crossing - 1].min() >= 0.95


def test_a_nucleus_on_a_four_block_corner_gets_one_label():
    truth = np.zeros((256, 256), np.uint16)
    for i, (y, x) in enumerate([(128, 128), (40, 40), (40, 200), (200, 60), (210, 200)], 1):
        _paint_ellipse(truth, y, x, 14, 11, 0.3, i)
    image = _render(truth, np.random.default_rng(0))
    labels = segment_blocks(image, block_size=128, margin=64, device="cpu", diameter=None)
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


def test_dask_and_zarr_sources_give_the_same_labels(image512, tmp_path):
    image = image512[0][:256, :256]
    run = dict(block_size=128, margin=32, device="cpu")
    expected = segment_blocks(image, **run)
    lazy = segment_blocks(da.from_array(image, chunks=100), **run)
    z = zarr.open_array(
        str(tmp_path / "in.zarr"), mode="w", shape=image.shape, chunks=(100, 100), dtype=image.dtype
    )
    z[:] = image
    on_disk = segment_blocks(as_image2d(z), **run)
    np.testing.assert_array_equal(lazy, expected)
    np.testing.assert_array_equal(on_disk, expected)


@pytest.mark.parametrize("suffix", [".tif", ".zarr", ".npy"])
def test_segment_large_writes_files(image512, tmp_path, suffix):
    image = image512[0][:256, :256]
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, image, tile=(128, 128))
    result = segment_large(
        source, tmp_path / f"labels{suffix}", block_size=128, margin=32, device="cpu"
    )
    s = Settings(block_size=128)
    expected, count = NucleusModel(device="cpu").label_blocks(
        image, None, None, 32, s, result.decisions
    )
    readers = {
        ".tif": tifffile.imread,
        ".npy": np.load,
        ".zarr": lambda p: zarr.open_array(str(p), mode="r")[:],
    }
    written = readers[suffix](result.output)
    assert written.dtype == np.uint32 and result.count == count > 20
    np.testing.assert_array_equal(written, expected)


def test_ome_zarr_input_with_a_channel(image512, tmp_path):
    image = image512[0]
    group = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w", zarr_format=2)
    arr = group.create_array(
        "0", shape=(1, 2, 1) + image.shape, chunks=(1, 1, 1, 128, 128), dtype=image.dtype
    )
    arr[0, 1, 0] = image
    group.attrs["multiscales"] = [
        {"axes": [{"name": n} for n in "tczyx"], "datasets": [{"path": "0"}]}
    ]
    view = open_source(tmp_path / "img.ome.zarr", channel=1)
    np.testing.assert_array_equal(np.asarray(view), image)
    with pytest.raises(ValueError, match="choose one"):
        open_source(tmp_path / "img.ome.zarr")


def test_tiff_axes_metadata_is_used(tmp_path):
    arr = np.arange(2 * 64 * 64, dtype=np.uint16).reshape(2, 64, 64)
    tifffile.imwrite(tmp_path / "cyx.tif", arr, metadata={"axes": "CYX"})
    np.testing.assert_array_equal(np.asarray(open_source(tmp_path / "cyx.tif", channel=1)), arr[1])
    with pytest.raises(ValueError, match="choose one"):
        open_source(tmp_path / "cyx.tif")
    tifffile.imwrite(tmp_path / "plain.tif", arr)  # no axes: shape (2, 64, 64) is ambiguous
    with pytest.raises(AmbiguousAxesError):
        open_source(tmp_path / "plain.tif")


def test_ambiguous_and_stacked_sources_are_refused():
    with pytest.raises(AmbiguousAxesError):
        as_image2d(np.zeros((3, 64, 64), np.uint16))
    with pytest.raises(ValueError, match="stack"):
        as_image2d(np.zeros((5, 64, 64), np.uint16), axes="ZYX")
    assert as_image2d(np.zeros((1, 3, 64, 64), np.uint16), channel=2).shape == (64, 64)
    assert as_image2d(np.zeros((64, 64, 3), np.uint8)).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="write big labels"):
        create_output("labels.png", (10, 10))


def test_cli_segment_large(image512, tmp_path, capsys):
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, image512[0][:256, :256])
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "labels.tif"
    args = parser.parse_args(
        [str(source), "-o", str(out), "--block-size", "128", "--margin", "32", "--device", "cpu"]
    )
    assert run(args) == 0
    assert "nuclei" in capsys.readouterr().out and tifffile.imread(out).max() > 20
    bad = parser.parse_args([str(tmp_path / "missing.tif"), "-o", str(tmp_path / "new.tif")])
    assert run(bad) == 1


def test_seed_search_resolution_is_one_rule(image512, model):
    """Half-resolution seeds wherever nuclei are known to be >= 12 px, in every path."""
    image = image512[0]
    for diameter, coarse in (("auto", True), (None, False), (8, False), (30, True)):
        d = model.decide(image, Settings(diameter=diameter))[0]
        pred = model.predict(image, diameter=diameter)
        assert (pred.peak_step == 2) == coarse
        assert (d.diameter is not None and d.diameter >= 12) == coarse


def test_blocks_labelled_side_by_side_give_the_same_labels(image512, model, decided512):
    one, n1 = blocks_of(model, image512[0], decided512, block_size=128, workers=1)
    three, n3 = blocks_of(model, image512[0], decided512, block_size=128, workers=3)
    assert n1 == n3 > 100 and np.array_equal(one, three)


def test_stopping_a_threaded_run_returns_at_once(image512):
    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        segment_blocks(image512[0], block_size=128, workers=2, progress=progress, device="cpu")


ALL_SETTINGS = dict(
    threshold=0.4,
    split=False,
    min_size=30,
    diameter=18.0,
    invert=False,
    tta=True,
    tile_size=96,
    halo=32,
    batch_size=2,
    precision="fp32",
    block_size=128,
    workers=1,
    big_image_pixels=10_000,
)


def test_every_path_takes_every_setting():
    """``segment_blocks``, ``NucleusModel.segment`` and ``segment_nuclei`` share the settings."""
    from napari_unet_nuclei import segment_nuclei

    assert set(ALL_SETTINGS) == set(Settings().as_dict())
    image = synthetic_nuclei((160, 160), seed=2)[0]
    for name, value in ALL_SETTINGS.items():
        via_blocks = segment_blocks(image, device="cpu", **{name: value})
        via_model = NucleusModel(device="cpu").segment(image, **{name: value})
        via_api = segment_nuclei(image, device="cpu", **{name: value})
        assert via_blocks.max() > 0 and via_model.max() > 0 and via_api.max() > 0, name
    with pytest.raises(TypeError, match="tile'"):
        segment_blocks(image, tile=512)
    with pytest.raises(ValueError, match="threshold"):
        NucleusModel(device="cpu").segment(image, threshold=2)
