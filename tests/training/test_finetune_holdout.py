"""The fine-tune's held-out band, and its score with the engine users run."""

import numpy as np

from napari_unet_nuclei._engine import NucleusModel
from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._settings import Settings
from napari_unet_nuclei.training.finetune_holdout import (
    engine_for,
    prepare_pair,
    prepared,
    score,
    split_holdout,
)


def test_holdout_is_a_band_at_the_image_scale_and_training_at_the_model_scale():
    image, labels = synthetic_nuclei((200, 300), seed=1, radius=(10.0, 14.0))
    (train_image, train_labels), (held_image, held_labels) = split_holdout(image, labels)
    assert held_image.shape == held_labels.shape == (200, 75)
    assert train_labels.shape == (200, 225)
    assert np.array_equal(held_labels, labels[:, 225:])  # never resampled: scored as users run
    parts, bands, nuclei = prepared([image], [labels], model_diameter=16.0)
    assert nuclei == len(np.unique(labels)) - 1 and bands[0][1].shape == (200, 75)
    assert parts[0].labels.shape[0] < 200  # nuclei ~24 px brought to the model's 16 px
    assert parts[0].targets.shape[1:] == parts[0].labels.shape == parts[0].norm.shape
    assert prepare_pair(image, labels, 16.0).labels.shape[0] < 200


def test_scoring_labels_the_band_with_the_engine_users_run(tiny_weights):
    """AP@0.5 is 1 against the engine's own labels at the same settings, lower at others."""
    image, _ = synthetic_nuclei((128, 160), seed=2)
    settings = Settings.of(diameter=16.0, threshold=0.5)
    engine = NucleusModel(tiny_weights, "cpu")
    own = engine.segment(image, settings=settings).labels
    assert own.max() > 3
    assert score(engine, [(image, own)], settings) == 1.0
    assert score(engine, [(image, own)], Settings.of(diameter=8.0)) < 1.0
    candidate = engine_for(load_model(tiny_weights), tiny_weights, "cpu")  # in-memory weights
    assert score(candidate, [(image, own)], settings) == 1.0


def test_an_eosin_rich_image_is_learnt_from_in_the_channel_the_engine_reads():
    from _helpers import he_eosin_rich

    from napari_unet_nuclei._normalize import fit_normalization, normalize_image
    from napari_unet_nuclei._scale import typical_diameter

    image, labels = he_eosin_rich(seed=2)
    (train_image, _), _ = split_holdout(image, labels)
    assert fit_normalization(image, stain="auto").channel == "haematoxylin"
    same_scale = typical_diameter(labels)  # the model's size: nothing resampled
    auto = prepared([image], [labels], same_scale, stain="auto")[0][0].norm
    grey = prepared([image], [labels], same_scale, stain="grey")[0][0].norm
    np.testing.assert_allclose(auto, normalize_image(train_image, stain="haematoxylin"))
    assert not np.allclose(auto, grey, atol=0.05)
