"""One file -> one label file (``batch.file_job``): read, segment with the engine, write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet_nuclei import NucleusModel, Settings
from napari_unet_nuclei._io import ImageTooLargeError
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.batch.file_job import (
    FileOptions,
    is_stack,
    read_input,
    run_file,
    segment_array,
)


@pytest.fixture
def options(tiny_weights) -> FileOptions:
    return FileOptions("cpu", tiny_weights, Settings(diameter=16))


def test_is_stack_means_planes():
    assert is_stack("ZYX") and is_stack("TYXC") and is_stack("TZCYX")
    assert not is_stack("YX") and not is_stack("YXC") and not is_stack("CYX")


def test_an_image_and_a_stack_get_the_engine_labels(options, tiny_weights):
    model = NucleusModel(tiny_weights, "cpu")
    image = synthetic_nuclei((96, 96), seed=1)[0]
    flat = segment_array(image, "YX", options)
    assert flat.axes == "YX" and flat.diameter is not None  # measured on the one-piece run
    np.testing.assert_array_equal(flat.labels, model.segment(image, diameter=16).labels)
    stack = np.stack([image, image[::-1]])
    planes = segment_array(np.moveaxis(stack, 0, -1), "YXZ", options)
    assert planes.axes == "YXZ" and planes.diameter is None and planes.labels.shape == (96, 96, 2)
    expected = model.segment(stack, axes="ZYX", diameter=16).labels
    np.testing.assert_array_equal(np.moveaxis(planes.labels, -1, 0), expected)


def test_a_colour_image_keeps_yx(options):
    image = synthetic_nuclei((96, 96), seed=2)[0]
    rgb = np.stack([image] * 3, axis=-1)
    assert segment_array(rgb, "YXC", options).axes == "YX"
    cyx = np.moveaxis(rgb, -1, 0)  # colour named first: the same picture
    np.testing.assert_array_equal(
        segment_array(cyx, "CYX", options).labels, segment_array(rgb, "YXC", options).labels
    )


def test_read_input_refuses_what_does_not_fit_in_memory(tmp_path, options):
    tifffile.imwrite(tmp_path / "x.tif", np.zeros((64, 64), np.uint16))
    with pytest.raises(ImageTooLargeError, match="segment-large"):
        read_input(tmp_path / "x.tif", options, memory=1000)
    arr, axes = read_input(tmp_path / "x.tif", options)
    assert arr.shape == (64, 64) and axes == "YX"


def test_run_file_writes_the_labels_or_keeps_the_error(tmp_path, options):
    image = synthetic_nuclei((96, 96), seed=3)[0]
    tifffile.imwrite(tmp_path / "in.tif", image)
    done = run_file(4, tmp_path / "in.tif", tmp_path / "out.tif", options)
    assert done.error is None and done.index == 4 and done.planes == 1
    written = tifffile.imread(tmp_path / "out.tif")
    assert done.nuclei == written.max() > 0 and isinstance(done.seconds, float)
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    failed = run_file(5, tmp_path / "bad.tif", tmp_path / "bad_out.tif", options)
    assert isinstance(failed.error, ValueError) and "cannot read" in str(failed.error)
    assert not Path(tmp_path / "bad_out.tif").exists()
