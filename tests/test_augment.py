"""Training augmentations: shapes kept, inputs untouched, changes where each one should act."""

import numpy as np
import pytest
import torch

from napari_unet_nuclei import _augment
from napari_unet_nuclei._dataset import targets
from napari_unet_nuclei._normalize import normalize_image
from napari_unet_nuclei._synthetic import synthetic_nuclei


@pytest.fixture
def crop():
    image, labels = synthetic_nuclei((96, 96), seed=3)
    img = torch.from_numpy(normalize_image(image))[None]
    fg = torch.from_numpy(targets(labels)[0])
    return img, fg


@pytest.mark.parametrize("name", ["illumination", "haze", "photon_noise"])
def test_image_wide_changes_keep_shape_and_input(crop, name):
    img, _ = crop
    before = img.clone()
    out = getattr(_augment, name)(img, np.random.default_rng(0))
    assert out.shape == img.shape and torch.equal(img, before)
    assert not torch.allclose(out, img)
    again = getattr(_augment, name)(img, np.random.default_rng(0))
    assert torch.equal(out, again)


def test_nucleus_changes_leave_the_background(crop):
    img, fg = crop
    background = fg[None] < 0.5
    for fn in (_augment.chromatin, _augment.dim_and_saturate):
        out = fn(img, fg, np.random.default_rng(1))
        assert out.shape == img.shape
        assert torch.equal(out[background], img[background])
        assert not torch.allclose(out[~background], img[~background])


def test_dim_and_saturate_gives_nuclei_different_gains(crop):
    img, fg = crop
    out = _augment.dim_and_saturate(img, fg, np.random.default_rng(2))
    ratio = (out / img.clamp(min=1e-3))[(fg[None] > 0.5) & (img > 0.2)]
    assert float(ratio.max() / ratio.min()) > 1.5  # not one gain for all nuclei


def test_renormalize_does_not_stretch_empty_background():
    rng = np.random.default_rng(0)
    flat = torch.from_numpy(rng.normal(0.1, 0.01, (1, 64, 64)).astype(np.float32))
    out = _augment.renormalize(flat)
    assert float(out.max() - out.min()) <= float(flat.max() - flat.min()) / _augment.MIN_RANGE


def test_strong_chain_is_finite_and_deterministic(crop):
    img, fg = crop
    for seed in range(10):
        a = _augment.strong(img, fg, np.random.default_rng(seed))
        b = _augment.strong(img, fg, np.random.default_rng(seed))
        assert torch.isfinite(a).all() and torch.equal(a, b)
