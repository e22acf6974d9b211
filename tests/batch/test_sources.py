"""Lazy big-image sources (``_sources``): OME-Zarr channels, TIFF axes metadata."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._stack import AmbiguousAxesError
from napari_unet_nuclei.batch.sources import open_source


def test_ome_zarr_input_with_a_channel(tmp_path):
    image = synthetic_nuclei((512, 512), seed=11)[0]
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
