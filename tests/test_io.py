"""Finding and naming user images (``_io``)."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_unet_nuclei._io import ChannelError, output_names, read_stack
from napari_unet_nuclei._stack import AmbiguousAxesError


def test_output_names_are_distinct_and_predictable(tmp_path):
    files = [
        tmp_path / "d1" / "x.tif",
        tmp_path / "d2" / "x.tif",
        tmp_path / "d1" / "y.png",
        tmp_path / "d1" / "y.tif",
    ]
    names, notes = output_names(files)
    assert names == ["d1_x.tif", "d2_x.tif", "y_png.tif", "y_tif.tif"]
    assert len(notes) == 2 and all("written as" in n for n in notes)


def _planes(*shape: int) -> np.ndarray:
    return np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)


@pytest.mark.parametrize(
    ("writer", "shape", "axes"),
    [
        ({"imagej": True, "metadata": {"axes": "TZYX"}}, (2, 3, 16, 20), "TZYX"),
        ({"ome": True, "metadata": {"axes": "ZYX"}}, (3, 16, 20), "ZYX"),
        ({"metadata": {"axes": "TYX"}}, (3, 16, 20), "TYX"),  # tifffile's own metadata
        ({"photometric": "minisblack"}, (10, 16, 20), "ZYX"),  # unknown, but too long for C
        ({"photometric": "rgb"}, (16, 20, 3), "YXC"),  # RGB pixels: colour
        ({"imagej": True, "metadata": {"axes": "TZYX"}}, (1, 3, 16, 20), "ZYX"),  # T of 1 dropped
    ],
)
def test_axes_come_from_the_file(tmp_path, writer, shape, axes):
    tifffile.imwrite(tmp_path / "x.tif", _planes(*shape), **writer)
    arr, found = read_stack(tmp_path / "x.tif")
    assert found == axes and arr.shape == tuple(n for n in shape if n != 1)


@pytest.mark.parametrize("writer", [{}, {"photometric": "minisblack", "metadata": None}])
def test_three_planes_without_axes_are_ambiguous(tmp_path, writer):
    tifffile.imwrite(tmp_path / "x.tif", _planes(3, 16, 20), **writer)  # {}: written as planar RGB
    with pytest.raises(AmbiguousAxesError, match="x.tif: cannot tell the axes of shape"):
        read_stack(tmp_path / "x.tif")
    arr, axes = read_stack(tmp_path / "x.tif", axes="zyx")
    assert axes == "ZYX" and arr.shape == (3, 16, 20)
    with pytest.raises(ValueError, match="name 4 axes but the image has 3"):
        read_stack(tmp_path / "x.tif", axes="TZYX")


def test_one_channel_is_picked(tmp_path):
    data = _planes(2, 3, 16, 20)
    tifffile.imwrite(tmp_path / "x.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(ChannelError, match="3 channels"):  # named channels are never colour
        read_stack(tmp_path / "x.tif")
    arr, axes = read_stack(tmp_path / "x.tif", channel=2)
    assert axes == "ZYX" and np.array_equal(arr, data[:, 2])
    with pytest.raises(ChannelError, match="out of range"):
        read_stack(tmp_path / "x.tif", channel=3)


def test_png_is_grey_or_colour(tmp_path):
    iio.imwrite(tmp_path / "x.png", np.zeros((16, 20, 3), np.uint8))
    assert read_stack(tmp_path / "x.png")[1] == "YXC"
    assert read_stack(tmp_path / "x.png", channel=1)[1] == "YX"


@pytest.mark.parametrize("writer", [{}, {"metadata": None}])
def test_two_channels_last_are_channels_not_planes(tmp_path, writer):
    """A (256, 256, 2) TIFF without axes was read as 256 planes of 256 x 2 pixels."""
    data = _planes(256, 256, 2)
    tifffile.imwrite(tmp_path / "x.tif", data, **writer)
    with pytest.raises(ChannelError, match="x.tif \\(axes YXC\\): 2 channels"):
        read_stack(tmp_path / "x.tif")
    arr, axes = read_stack(tmp_path / "x.tif", channel=1)
    assert axes == "YX" and np.array_equal(arr, data[..., 1])


def test_pages_of_different_shapes_are_refused_not_cut_to_the_first(tmp_path):
    with tifffile.TiffWriter(tmp_path / "x.tif") as tif:
        tif.write(np.zeros((64, 64), np.uint8), metadata=None)
        tif.write(np.zeros((32, 48), np.uint8), metadata=None)
    with pytest.raises(ValueError, match="2 images of different shapes \\(64x64, 32x48\\)"):
        read_stack(tmp_path / "x.tif")


def test_the_file_and_the_big_image_reader_share_one_axes_rule(tmp_path):
    from napari_unet_nuclei._io import tiff_axes
    from napari_unet_nuclei.batch.sources import open_source

    assert tiff_axes("ZCYX") == "ZCYX" and tiff_axes("YXS") == "YXC"
    assert tiff_axes("SYX") is None and tiff_axes("QYX") is None  # planar "RGB", unknown
    data = _planes(256, 256, 2)
    tifffile.imwrite(tmp_path / "x.tif", data)
    with pytest.raises(ChannelError, match="2 channels"):
        open_source(tmp_path / "x.tif")
    np.testing.assert_array_equal(np.asarray(open_source(tmp_path / "x.tif", channel=0)),
                                  read_stack(tmp_path / "x.tif", channel=0)[0])  # fmt: skip
