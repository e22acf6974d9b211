import dask.array as da
import numpy as np
import pytest
from _helpers import he_eosin_rich, he_like

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


def test_eosin_rich_stained_images_are_given_as_their_haematoxylin():
    from napari_unet_nuclei._normalize import EOSIN_RICH, stain_amount, stain_channel

    rich, labels = he_eosin_rich(eosin=0.08)
    assert stain_channel(rich) == "haematoxylin"
    assert stain_channel(he_eosin_rich(eosin=0.02)[0]) == "grey"  # stained, little eosin
    assert stain_channel(he_like()) == "grey"
    # a dark colour composite (fluorescence) is never read as a stain, whatever its "eosin"
    dark = np.zeros((64, 64, 3), np.uint8)
    dark[..., 0], dark[8:24, 8:24] = 40, (200, 30, 160)
    assert stain_amount(dark, 1).mean() >= EOSIN_RICH and stain_channel(dark) == "grey"
    assert stain_channel(he_like(), "haematoxylin") == "haematoxylin"  # asked for
    assert stain_channel(rich.mean(axis=-1), "haematoxylin") == "grey"  # grey stays grey
    assert stain_channel(rich, "grey") == "grey"
    with pytest.raises(ValueError, match="stain must be one of"):
        stain_channel(rich, "eosin")
    h = fit_normalization(rich, stain="auto")
    assert h.channel == "haematoxylin" and not h.invert  # nuclei bright in it already
    grey = fit_normalization(rich)  # the rule before: averaged to grey, inverted
    assert grey.channel == "grey" and grey.invert

    def separation(norm):  # nuclei against tissue, in units of the tissue's own spread
        x = norm.apply(rich)
        return (x[labels > 0].mean() - x[labels == 0].mean()) / x[labels == 0].std()

    assert separation(h) > 4 * separation(grey)  # the stroma's eosin no longer looks dark


def test_the_haematoxylin_amount_reads_any_type_at_its_scale():
    from skimage.color import rgb2hed

    from napari_unet_nuclei._normalize import stain_amount

    def haematoxylin(image):
        return stain_amount(image, 0)

    rgb = he_eosin_rich()[0]
    ref = haematoxylin(rgb)
    hed = rgb2hed(rgb)  # the unmixing it follows, through a lookup table
    np.testing.assert_allclose(ref, hed[..., 0], atol=1e-5)
    np.testing.assert_allclose(stain_amount(rgb, 1), hed[..., 1], atol=1e-5)
    np.testing.assert_allclose(haematoxylin(rgb.astype(np.uint16) * 257), ref, atol=1e-3)
    np.testing.assert_allclose(haematoxylin(rgb / 255.0), ref, atol=1e-3)
    np.testing.assert_allclose(haematoxylin(rgb.astype(np.float32)), ref, atol=1e-3)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], -1)
    np.testing.assert_array_equal(haematoxylin(rgba), ref)


def test_the_channel_is_decided_on_the_same_sample_for_dask_and_numpy():
    rich = he_eosin_rich()[0]
    fit = fit_normalization(rich, stain="auto")
    assert fit_normalization(da.from_array(rich, chunks=(64, 64, 3)), stain="auto") == fit
    assert Normalization(fit.low, fit.high, fit.invert, "haematoxylin", 255.0) == fit


def test_parts_of_a_float_colour_image_are_unmixed_on_the_whole_image_scale():
    rich = he_eosin_rich()[0].astype(np.float32)  # 0-255 floats: no type says where white is
    rich[:40, :40] *= 0.6  # a darker corner
    fit = fit_normalization(rich, stain="auto")
    assert fit.channel == "haematoxylin" and fit.white == float(rich.max())
    dim = rich[:40, :40]  # a block whose own brightest value is far below the image's
    assert dim.max() < 0.95 * rich.max()
    np.testing.assert_allclose(fit.apply(dim), fit.apply(rich)[:40, :40], atol=1e-6)
