import numpy as np

from napari_unet_nuclei._normalize import (
    is_bright_background,
    normalize_image,
    percentile_normalize,
)


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
    assert not is_bright_background(percentile_normalize(image))
    assert is_bright_background(percentile_normalize(bright_bg))
    np.testing.assert_allclose(normalize_image(bright_bg), normalize_image(image), atol=0.1)
