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


def _he_like(seed: int = 0) -> np.ndarray:
    """Purple nuclei on a pale pink background, as in H&E stains."""
    from napari_unet_nuclei._synthetic import synthetic_nuclei

    _, labels = synthetic_nuclei((200, 240), seed=seed)
    rng = np.random.default_rng(seed)
    out = np.where(labels[..., None] > 0, [110.0, 60.0, 150.0], [235.0, 205.0, 225.0])
    return np.clip(out + rng.normal(0, 6, out.shape), 0, 255).astype(np.uint8)


def test_looks_stained_only_for_colour_on_a_bright_background():
    from napari_unet_nuclei._normalize import looks_stained

    he = _he_like()
    assert looks_stained(he)
    assert looks_stained(np.concatenate([he, np.full((*he.shape[:2], 1), 255, np.uint8)], -1))
    grey = he.mean(axis=-1).astype(np.uint8)
    assert not looks_stained(grey) and not looks_stained(np.stack([grey] * 3, -1))
    composite = np.zeros_like(he)
    composite[..., 1] = 255 - grey  # green nuclei on black: a fluorescence composite
    assert not looks_stained(composite)
    assert not looks_stained(np.full((50, 50, 3), 200, np.uint8))
