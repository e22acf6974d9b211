"""The rdf (``export.rdf``) states the plugin's own rules: its percentiles, its model's size."""

from __future__ import annotations

import pytest

from napari_unet_nuclei._decisions import DEFAULT_MODEL_DIAMETER
from napari_unet_nuclei._normalize import HIGH_PERCENTILE, LOW_PERCENTILE
from napari_unet_nuclei.export import rdf as _rdf

SIZES = {"min": 64, "step": 16, "halo": 64}


@pytest.fixture
def folder(tmp_path):
    for name in _rdf.NAMES.values():  # the files the rdf names (their hashes are read)
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_the_preprocessing_is_the_plugins_normalisation(folder):
    scale = _rdf.inputs_outputs(folder, SIZES)["inputs"][0]["preprocessing"][0]
    assert scale["id"] == "scale_range"
    assert scale["kwargs"]["min_percentile"] == LOW_PERCENTILE
    assert scale["kwargs"]["max_percentile"] == HIGH_PERCENTILE


@pytest.mark.parametrize(("meta", "diameter"), [({"diameter": 24}, 24.0), ({}, None)])
def test_the_model_size_is_the_one_the_engine_reads(folder, meta, diameter):
    content = _rdf.rdf(folder, {}, {}, SIZES, meta)
    expected = DEFAULT_MODEL_DIAMETER if diameter is None else diameter
    assert content["config"]["napari-unet-nuclei"]["diameter"] == expected
