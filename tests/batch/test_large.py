"""``segment_large``: a big image file to a label file (TIFF, zarr, npy), atomically."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr
from _helpers import best_iou, earlier_output

from napari_unet_nuclei import NucleusModel, Settings, segment_large
from napari_unet_nuclei._sample_data import synthetic_nuclei


@pytest.mark.slow
def test_segment_large_and_segment_give_the_same_nuclei_3000(tmp_path):
    """3000², real weights: ``segment-large`` (blocks of 1024) against the in-memory path."""
    image, _ = synthetic_nuclei((3000, 3000), seed=5)
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, image, tile=(256, 256))
    large = segment_large(source, tmp_path / "labels.tif", block_size=1024, device="cpu")
    blocked = tifffile.imread(large.output)
    whole = NucleusModel(device="cpu").segment(image).labels
    assert large.count == int(blocked.max()) > 5000
    assert np.mean(best_iou(whole, blocked) >= 0.9) >= 0.995
    assert np.mean(best_iou(blocked, whole) >= 0.9) >= 0.995


@pytest.mark.parametrize("suffix", [".tif", ".zarr", ".npy"])
def test_segment_large_writes_files(tmp_path, tiny_weights, suffix):
    image = synthetic_nuclei((512, 512), seed=11)[0][:256, :256]
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, image, tile=(128, 128))
    result = segment_large(
        source,
        tmp_path / f"labels{suffix}",
        block_size=128,
        margin=32,
        device="cpu",
        weights=tiny_weights,
    )
    s = Settings(block_size=128)
    expected, count = NucleusModel(tiny_weights, device="cpu").label_blocks(
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


def test_a_failure_mid_run_keeps_the_old_output_and_leaves_no_temporary(tmp_path, tiny_weights):
    image = synthetic_nuclei((192, 192), seed=3)[0]
    before = earlier_output(tmp_path / "prev.tif")

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError, match="disk went away"):
        segment_large(
            image,
            tmp_path / "prev.tif",
            block_size=96,
            margin=32,
            progress=progress,
            overwrite=True,
            device="cpu",
            weights=tiny_weights,
        )
    assert (tmp_path / "prev.tif").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["prev.tif"]


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_the_space_of_a_memory_map_is_reserved_before_any_block(tmp_path, tiny_weights, suffix):
    """Issue 23, 6: a sparse map on a full disk dies of SIGBUS; so every byte is allocated."""
    image = synthetic_nuclei((192, 192), seed=3)[0]
    seen = []

    def progress(done: int, total: int) -> None:
        if done == 1:
            (tmp,) = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
            info = tmp.stat()
            seen.append((info.st_blocks * 512, info.st_size))

    segment_large(
        image,
        tmp_path / f"labels{suffix}",
        block_size=96,
        margin=32,
        progress=progress,
        device="cpu",
        weights=tiny_weights,
    )
    allocated, size = seen[0]
    assert size >= 192 * 192 * 4 and allocated >= size
