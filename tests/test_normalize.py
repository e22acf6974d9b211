import dask.array as da
import numpy as np
import pytest
from _helpers import he_like

from napari_unet_nuclei._normalize import (
    Normalization,
    fit_normalization,
    normalize_image,
    percentile_normalize,
)
from napari_unet_nuclei._sample_data import synthetic_nuclei


def test_percentiles_map_to_zero_and_one():
    x = np.linspace(0, 1000, 9999, dtype=np.float32).reshape(101, 99)
    n = percentile_normalize(x, 1, 99)
    assert abs(np.percentile(n, 1)) < 1e-3 and abs(np.percentile(n, 99) - 1) < 1e-3


def test_constant_and_non_finite_images_are_safe():
    assert not normalize_image(np.full((8, 8), 7.0)).any()
    x = np.ones((8, 8))
    x[0, 0], x[1, 1] = np.nan, np.inf
    assert np.isfinite(normalize_image(x)).all()


def test_dark_nuclei_on_bright_background_are_inverted(synthetic):
    image = synthetic[0].astype(np.float32)
    bright_bg = image.max() - image
    assert not fit_normalization(percentile_normalize(image)).invert
    assert fit_normalization(percentile_normalize(bright_bg)).invert
    np.testing.assert_allclose(normalize_image(bright_bg), normalize_image(image), atol=0.1)


def test_looks_stained_only_for_colour_on_a_bright_background():
    from napari_unet_nuclei._normalize import looks_stained

    he = he_like()
    assert looks_stained(he)
    assert looks_stained(np.concatenate([he, np.full((*he.shape[:2], 1), 255, np.uint8)], -1))
    grey = he.mean(axis=-1).astype(np.uint8)
    assert not looks_stained(grey) and not looks_stained(np.stack([grey] * 3, -1))
    composite = np.zeros_like(he)
    composite[..., 1] = 255 - grey  # green nuclei on black: a fluorescence composite
    assert not looks_stained(composite)
    assert not looks_stained(np.full((50, 50, 3), 200, np.uint8))


def test_one_normalisation_fit_reads_a_subsample_and_matches_dask():
    image = synthetic_nuclei((512, 512), seed=11)[0]
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
