"""Training augmentations: shapes kept, inputs untouched, changes where each one should act."""

import numpy as np
import pytest
import torch

from napari_unet_nuclei._normalize import normalize_image
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.training import augment as _augment
from napari_unet_nuclei.training.dataset import targets


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


def _stained(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An H&E-like colour image: purple nuclei on a pink background, and its labels."""
    image, labels = synthetic_nuclei((96, 96), seed=seed)
    t = (image / image.max())[..., None]  # the stain follows the intensity
    rgb = np.array([240, 200, 220]) + t * (np.array([90, 60, 150]) - [240, 200, 220])
    return rgb.astype(np.uint8), labels


def test_stain_jitter_recolours_and_keeps_nuclei_bright():
    rgb, labels = _stained()
    hed = torch.from_numpy(np.moveaxis(_augment.stains(rgb), -1, 0).copy())
    assert hed.shape == (3, 96, 96) and hed.dtype == torch.float32
    outs = [_augment.stain_jitter(hed, np.random.default_rng(s)) for s in range(4)]
    nuclei = torch.from_numpy(labels > 0)[None]
    for out in outs:
        assert out.shape == (1, 96, 96) and torch.isfinite(out).all()
        assert float(out[nuclei].mean()) > float(out[~nuclei].mean()) + 0.3  # inverted, as at use
    assert torch.equal(outs[0], _augment.stain_jitter(hed, np.random.default_rng(0)))
    assert not torch.allclose(outs[0], outs[1])


def test_stain_jitter_only_with_strong_and_only_for_stained_images():
    from napari_unet_nuclei.training.batches import TrainingSet, make_batch

    rgb, labels = _stained()
    hed = np.moveaxis(_augment.stains(rgb), -1, 0).copy()
    plain = TrainingSet([normalize_image(rgb)], [targets(labels)], np.ones(1), np.array([14.0]))
    coloured = TrainingSet(plain.images, plain.targets, plain.prob, plain.diameters, [hed])
    for step in range(3):
        a = make_batch(step, 0, plain, 4, 48, (0.8, 1.25))
        b = make_batch(step, 0, coloured, 4, 48, (0.8, 1.25))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # without --strong: same
    a = [make_batch(s, 0, plain, 4, 48, (0.8, 1.25), strong=True) for s in range(3)]
    b = [make_batch(s, 0, coloured, 4, 48, (0.8, 1.25), strong=True) for s in range(3)]
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    again = make_batch(2, 0, coloured, 4, 48, (0.8, 1.25), strong=True)
    assert torch.equal(again[0], b[2][0]) and torch.equal(again[1], b[2][1])
