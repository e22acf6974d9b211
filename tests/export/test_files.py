"""The package's files (``export.files``): usage text from the plugin's own rules."""

from __future__ import annotations

from napari_unet_nuclei._decisions import DEFAULT_MODEL_DIAMETER
from napari_unet_nuclei._normalize import HIGH_PERCENTILE, LOW_PERCENTILE, percentile_normalize
from napari_unet_nuclei.export.files import documentation, synthetic_input

SIZES = {"min": 64, "step": 16, "halo": 64, "arch": "unet.py"}


def test_the_usage_names_the_percentiles_and_the_model_size():
    text = documentation("m", "d", {"diameter": 22}, None, SIZES)
    assert f"{LOW_PERCENTILE:g}–{HIGH_PERCENTILE:g}th percentiles" in text
    assert "about **22 px** across" in text
    assert f"about **{DEFAULT_MODEL_DIAMETER:g} px**" in documentation("m", "d", {}, None, SIZES)


def test_the_package_input_is_scaled_by_the_one_rule():
    image = synthetic_input(64)[0, 0]
    norm = percentile_normalize(image)
    assert abs(float((norm <= 0).mean()) - LOW_PERCENTILE / 100) < 0.01
    assert abs(float((norm >= 1).mean()) - (100 - HIGH_PERCENTILE) / 100) < 0.01
