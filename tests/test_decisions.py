"""``_decisions``: each decision in one function (path, model diameter, seed search)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet_nuclei import Settings
from napari_unet_nuclei._decisions import (
    COARSE_SEEDS_DIAMETER,
    DEFAULT_MODEL_DIAMETER,
    FINE_LABELS_ABOVE,
    Decisions,
    choose_path,
    seed_step,
    trained_diameter,
)
from napari_unet_nuclei._normalize import Normalization, fit_normalization


def test_choose_path_is_the_one_place():
    s = Settings(big_image_pixels=10_000)
    assert choose_path((50, 50), 0, s) == "plane"
    assert choose_path((200, 200), 0, s) == "blocks"
    assert choose_path((200, 200, 3), 0, s) == "blocks"  # colour: the last axis is not a side
    assert choose_path((3, 50, 50), 1, s) == "stack"
    assert choose_path((1, 50, 50), 1, s) == "plane"  # one plane is an image
    assert choose_path((2, 1, 50, 50), 2, s) == "stack"


def test_the_model_diameter_comes_from_a_network_or_its_metadata():
    class Network:
        meta = {"diameter": 24}

    assert trained_diameter(Network()) == trained_diameter({"diameter": 24}) == 24.0
    assert trained_diameter({}) == trained_diameter(object()) == DEFAULT_MODEL_DIAMETER


def test_the_seed_search_is_coarse_only_for_nuclei_known_to_be_large():
    assert seed_step(None) == 1  # unknown size: full resolution
    assert seed_step(COARSE_SEEDS_DIAMETER - 0.1) == 1
    assert seed_step(COARSE_SEEDS_DIAMETER) == seed_step(40.0) == 2


def test_the_prediction_and_the_size_pass_ask_the_same_rule():
    from napari_unet_nuclei._estimate import _probe
    from napari_unet_nuclei._prediction import Prediction

    maps = np.zeros((2, 32, 32), np.float32)
    for d in (None, 8.0, 16.0):
        assert Prediction(*maps, expected_diameter=d).peak_step == seed_step(d)
    crop = np.zeros((64, 64), np.float32)
    flat = lambda x: np.zeros((2, *x.shape), np.float32)  # noqa: E731
    for model_diameter in (8.0, 16.0):  # the full-scale pass may become the prediction
        kept = _probe(crop, 1.0, flat, model_diameter)[1]
        assert kept.peak_step == seed_step(model_diameter)
        assert _probe(crop, 0.5, flat, model_diameter)[1].peak_step == seed_step(None)


def test_decisions_sizes_and_grids():
    norm = Normalization(0.0, 1.0, False)
    assert Decisions(norm).size == DEFAULT_MODEL_DIAMETER and not Decisions(norm).constant
    assert Decisions(norm, 2.0, 8.0).size == 8.0 and Decisions(norm, 2.0, 8.0).label_scale == 1
    fine = Decisions(norm, FINE_LABELS_ABOVE + 1, 5.0, 5.2)
    assert fine.size == 5.2 and fine.label_scale == FINE_LABELS_ABOVE + 1
    assert Decisions(Normalization(3.0, 3.0, False)).constant


def test_another_plane_keeps_the_polarity_and_fits_its_own_range():
    bright = np.linspace(0, 100, 64 * 64).reshape(64, 64)
    d = Decisions(fit_normalization(bright, invert=True), 1.5, 10.0)
    other = d.for_plane(bright * 3)
    assert other.normalization.invert and other.scale == 1.5 and other.diameter == 10.0
    assert other.normalization.high == pytest.approx(3 * d.normalization.high)
