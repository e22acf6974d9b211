"""Per-nucleus measurements: pure numpy, checked against hand-made label images."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet_nuclei._measure import COLUMNS, as_features, measure_nuclei, measure_stack


@pytest.fixture
def two_squares() -> np.ndarray:
    labels = np.zeros((10, 12), np.uint16)
    labels[1:3, 1:3] = 1  # 4 px, centre (1.5, 1.5)
    labels[5:8, 6:12] = 3  # 18 px, centre (6, 8.5); label 2 absent on purpose
    return labels


def test_columns_and_values(two_squares):
    image = np.where(two_squares == 1, 10.0, 0.0) + np.where(two_squares == 3, 4.0, 0.0)
    table = measure_nuclei(two_squares, image)
    assert tuple(table) == COLUMNS
    assert table["label"].tolist() == [1, 3]
    assert table["area_px"].tolist() == [4, 18]
    assert table["centroid_y_px"].tolist() == [1.5, 6.0]
    assert table["centroid_x_px"].tolist() == [1.5, 8.5]
    assert table["mean_intensity"].tolist() == [10.0, 4.0]


def test_scale_and_translate(two_squares):
    table = measure_nuclei(two_squares, scale=(1.0, 0.5, 0.25), translate=(7.0, 10.0, 20.0))
    assert table["area_scaled"].tolist() == [0.5, 2.25]
    assert table["centroid_y"].tolist() == [10.75, 13.0]
    assert table["centroid_x"].tolist() == [20.375, 22.125]
    assert np.isnan(table["mean_intensity"]).all()


def test_rgb_image_is_averaged(two_squares):
    rgb = np.zeros((*two_squares.shape, 3), np.uint8)
    rgb[two_squares == 1] = (30, 60, 90)
    assert measure_nuclei(two_squares, rgb)["mean_intensity"][0] == 60.0


def test_empty_labels_give_empty_columns():
    table = measure_nuclei(np.zeros((5, 5), np.uint16), np.ones((5, 5)))
    assert tuple(table) == COLUMNS
    assert all(len(col) == 0 for col in table.values())


def test_huge_sparse_ids_do_not_blow_up_memory():
    labels = np.zeros((4, 4), np.uint32)
    labels[0, 0], labels[3, 3] = 4_000_000_000, 7
    table = measure_nuclei(labels)
    assert table["label"].tolist() == [7, 4_000_000_000]
    assert table["area_px"].tolist() == [1, 1]


def test_inputs_untouched_and_features_have_index(two_squares):
    copy = two_squares.copy()
    features = as_features(measure_nuclei(two_squares, two_squares.astype(float)))
    assert np.array_equal(copy, two_squares)
    assert features["index"].tolist() == [1, 3]


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4), np.uint8), np.zeros((3, 3), np.float32)])
def test_rejects_non_2d_or_non_integer(bad):
    with pytest.raises(ValueError):
        measure_nuclei(bad)


def test_rejects_mismatched_image(two_squares):
    with pytest.raises(ValueError, match="does not match"):
        measure_nuclei(two_squares, np.zeros((3, 3)))


def test_band_by_band_equals_whole_and_reads_lazy_arrays(monkeypatch, tmp_path):
    import dask.array as da

    from napari_unet_nuclei import _measure
    from napari_unet_nuclei._sample_data import synthetic_nuclei

    image, labels = synthetic_nuclei((300, 260), seed=2)
    whole = measure_nuclei(labels, image, (0.5, 2.0), (3.0, 4.0))
    monkeypatch.setattr(_measure, "BAND_PIXELS", 1000)  # 3 rows per band
    mapped = np.lib.format.open_memmap(tmp_path / "l.npy", "w+", labels.dtype, labels.shape)
    mapped[:] = labels
    for lab, img in ((labels, image), (mapped, da.from_array(image, chunks=64))):
        banded = measure_nuclei(lab, img, (0.5, 2.0), (3.0, 4.0))
        assert banded.keys() == whole.keys()
        for key in whole:
            np.testing.assert_allclose(banded[key], whole[key], rtol=1e-12)


def test_a_tracked_stack_gets_track_and_parent_columns():
    stack = np.zeros((2, 8, 8), np.uint16)
    stack[0, 1:3, 1:3] = 1  # track 1 divides into tracks 2 and 3
    stack[1, 1:3, 1:3], stack[1, 5:7, 5:7] = 2, 3
    table = measure_stack(stack, parents={2: 1, 3: 1})
    assert table["plane"].tolist() == [0, 1, 1]
    assert table["track_id"].tolist() == [1, 2, 3] == table["label"].tolist()
    assert table["parent_track_id"].tolist() == [0, 1, 1]
    assert "track_id" not in measure_stack(stack)  # untracked labels: no such column
