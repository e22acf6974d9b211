"""Settings: one name and one default per setting, checked once, None meaning the default."""

from __future__ import annotations

import pytest

from napari_unet_nuclei import Settings
from napari_unet_nuclei._settings import parse_diameter


def test_defaults_and_none_means_default():
    s = Settings.of(threshold=None, min_size=None, block_threads=None)
    assert s == Settings() and s.threshold == 0.5 and s.diameter == "auto"
    assert Settings.of(diameter=None).diameter is None  # None: the image's own scale
    assert Settings.of(invert=None).invert is None  # None: detect the polarity


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(threshold=1.5), "threshold"),
        (dict(threshold=-0.1), "threshold"),
        (dict(min_size=-1), "min_size"),
        (dict(min_size=2.5), "min_size"),
        (dict(tile_size=8), "tile_size"),
        (dict(batch_size=0), "batch_size"),
        (dict(block_size=32), "block_size"),
        (dict(block_threads=0), "block_threads"),
        (dict(precision="fp8"), "precision"),
        (dict(diameter=-3), "diameter"),
        (dict(diameter="big"), "diameter"),
        (dict(diameter=float("nan")), "diameter"),
        (dict(invert="yes"), "invert"),
    ],
)
def test_impossible_values_name_the_setting(options, match):
    with pytest.raises(ValueError, match=match):
        Settings.of(**options)


def test_unknown_names_list_the_settings():
    with pytest.raises(TypeError, match="unknown setting 'tile'.*tile_size"):
        Settings.of(tile=512)


def test_values_get_canonical_types():
    s = Settings.of(threshold=1, min_size=20.0, split=0, diameter="30")
    assert s.threshold == 1.0 and isinstance(s.threshold, float)
    assert s.min_size == 20 and isinstance(s.min_size, int)
    assert s.split is False and s.diameter == 30.0
    assert Settings.of(**s.as_dict()) == s


def test_the_old_name_of_block_threads_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="'workers' is now 'block_threads'"):
        s = Settings.of(workers=2)
    assert s.block_threads == 2 and "workers" not in s.as_dict()


def test_one_diameter_parser_for_api_and_command_line():
    assert parse_diameter("AUTO") == "auto" and parse_diameter("none") is None
    assert parse_diameter(None) is None and parse_diameter("12.5") == 12.5
    # the command line's --diameter parses with it: tests/cli/test_common.py


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(diameter=True), "diameter"),
        (dict(threshold=True), "threshold"),
        (dict(halo=20000), "halo"),
    ],
)
def test_settings_that_mean_something_else_are_refused(options, match):
    """Issue 23, 9: True was taken as 1 (px, or the cut), a huge halo ran out of memory."""
    with pytest.raises(ValueError, match=match):
        Settings.of(**options)


def test_segment_nuclei_refuses_a_bool_diameter(tiny_weights, synthetic):
    """Issue 23, 9: ``segment_nuclei(img, diameter=True)``."""
    from napari_unet_nuclei import segment_nuclei

    with pytest.raises(ValueError, match="diameter"):
        segment_nuclei(synthetic[0], device="cpu", weights=tiny_weights, diameter=True)
