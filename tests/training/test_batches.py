"""The training data (``_training_data``): batches that depend only on seed and step."""

import numpy as np
import torch

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.training.batches import TrainingSet, make_batch


def test_batches_depend_only_on_seed_and_step():
    img, lab = synthetic_nuclei((64, 64), seed=0)
    from napari_unet_nuclei._normalize import normalize_image
    from napari_unet_nuclei.training.dataset import targets

    data = TrainingSet([normalize_image(img)], [targets(lab)], np.array([1.0]), np.array([14.0]))
    args = (data, 2, 32, (0.5, 2.0), 20.0, True)
    a, b, c = make_batch(3, 0, *args), make_batch(3, 0, *args), make_batch(4, 0, *args)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].shape == (2, 1, 32, 32) and a[1].shape == (2, 2, 32, 32)
    assert set(np.unique(a[1][:, 0].numpy())) <= {0.0, 1.0}


def test_worker_processes_give_the_same_batches():
    import argparse

    from napari_unet_nuclei._normalize import normalize_image
    from napari_unet_nuclei.training.batches import step_batches
    from napari_unet_nuclei.training.dataset import targets

    images = [synthetic_nuclei((64, 64), seed=s) for s in range(2)]
    data = TrainingSet(
        [normalize_image(i) for i, _ in images],
        [targets(lab) for _, lab in images],
        np.array([0.5, 0.5]),
        np.array([14.0, 14.0]),
    )
    args = argparse.Namespace(
        steps=5,
        seed=1,
        batch=2,
        crop=32,
        zoom_min=0.5,
        zoom_max=2.0,
        diameter=0.0,
        blur=True,
        strong=True,
        workers=0,
        device="cpu",
    )
    alone = list(step_batches(data, args, start=1))
    args.workers = 2
    pooled = list(step_batches(data, args, start=1))
    assert len(alone) == len(pooled) == 4
    for (xa, ya), (xb, yb) in zip(alone, pooled, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(alone[0][0], alone[1][0])


def test_kind_weights_option():
    import pytest

    from napari_unet_nuclei.training.batches import KIND_WEIGHTS, parse_kind_weights

    assert parse_kind_weights("") == KIND_WEIGHTS
    w = parse_kind_weights("fluorescence=0.45, stained=0.45")
    assert w == {"fluorescence": 0.45, "stained": 0.45, "brightfield": 0.1}
    for bad in ("stained", "stained=-1", "stained=x"):
        with pytest.raises(ValueError, match="kind-weights"):
            parse_kind_weights(bad)


def test_strong_share_applies_the_chain_to_part_of_the_crops():
    from napari_unet_nuclei._normalize import normalize_image
    from napari_unet_nuclei.training.dataset import targets

    img, lab = synthetic_nuclei((64, 64), seed=0)
    data = TrainingSet([normalize_image(img)], [targets(lab)], np.array([1.0]), np.array([14.0]))
    args = (data, 16, 32, (0.8, 1.25), 14.0, False)

    def batch(strong):
        return make_batch(5, 0, *args, strong)[0]

    assert torch.equal(batch(True), batch(1.0))  # the flag alone: every crop, as before
    half, off, full = batch(0.5), batch(0.0), batch(1.0)
    assert torch.equal(half, batch(0.5))
    assert not torch.equal(half, off) and not torch.equal(half, full)
