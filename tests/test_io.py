"""Finding and naming user images (``_io``)."""

from __future__ import annotations

from napari_unet_nuclei._io import output_names


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
