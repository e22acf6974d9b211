"""``TrainConfig``: every bad value is refused on creation with the option's name; recipes."""

from pathlib import Path

import pytest

from napari_unet_nuclei.training.config import (
    KIND_WEIGHTS,
    ConfigError,
    DataSource,
    TrainConfig,
    parse_source,
    read_recipe,
)

BAD = [
    ("steps", 0, "--steps"),
    ("steps", 2.5, "--steps"),
    ("batch", -1, "--batch"),
    ("crop", 8, "--crop"),
    ("zoom_min", 0.0, "--zoom-min"),
    ("zoom_max", 0.4, "--zoom-max"),  # below the default zoom_min 0.5
    ("diameter", -3.0, "--diameter"),
    ("strong_share", 1.5, "--strong-share"),
    ("strong_share", 0.0, "--strong-share"),
    ("lr", 0.0, "--lr"),
    ("lr", float("nan"), "--lr"),
    ("workers", -1, "--workers"),
    ("threads", True, "--threads"),
    ("checkpoint_every", 0, "--checkpoint-every"),
    ("kind_weights", (("fluorescence", 0.0), ("stained", 0.0)), "--kind-weights"),
    ("kind_weights", (("stained", -1.0),), "--kind-weights"),
]


@pytest.mark.parametrize(("name", "value", "option"), BAD)
def test_a_bad_value_is_one_clear_error(name, value, option):
    with pytest.raises(ConfigError) as info:
        TrainConfig(data=(DataSource(Path("d")),), **{name: value})
    message = str(info.value)
    shown = dict(value) if name == "kind_weights" else value
    assert message.startswith(option) and "\n" not in message and repr(shown) in message


def test_data_needs_a_folder_with_a_positive_weight():
    with pytest.raises(ConfigError, match="--data"):
        TrainConfig(data=())
    for weight in (0.0, -1.0, float("inf")):
        with pytest.raises(ConfigError, match="--data"):
            TrainConfig(data=(DataSource(Path("d"), weight),))


def test_the_config_is_frozen_and_plain():
    config = TrainConfig(data=("a", Path("b")), output="w.pt", run_dir="r")
    assert config.data == (DataSource(Path("a")), DataSource(Path("b")))
    assert config.output == Path("w.pt") and config.run_dir == Path("r")
    assert config.kinds == KIND_WEIGHTS
    with pytest.raises(AttributeError):
        config.steps = 3  # type: ignore[misc]
    plain = config.as_dict()
    assert plain["data"] == [{"folder": "a", "weight": 1.0}, {"folder": "b", "weight": 1.0}]
    assert plain["output"] == "w.pt" and plain["init"] is None and plain["steps"] == 7000


def test_a_folder_may_carry_its_weight(tmp_path):
    assert parse_source("data/dsb:0.7") == DataSource(Path("data/dsb"), 0.7)
    assert parse_source("data/dsb") == DataSource(Path("data/dsb"), 1.0)
    assert parse_source("data/a:b") == DataSource(Path("data/a:b"), 1.0)  # not a number
    odd = tmp_path / "odd:2"
    odd.mkdir()
    assert parse_source(str(odd)) == DataSource(odd, 1.0)  # an existing folder is never split
    with pytest.raises(ConfigError, match="no folder"):
        parse_source(":0.5")


def test_a_recipe_lists_folders_weights_and_kinds(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        '[[data]]\nfolder = "dsb"\nweight = 0.7\n[[data]]\nfolder = "/abs/kromp"\n'
        "[kinds]\nstained = 0.45\n"
    )
    sources, kinds = read_recipe(recipe)
    assert sources == (DataSource(tmp_path / "dsb", 0.7), DataSource(Path("/abs/kromp"), 1.0))
    assert kinds == {**KIND_WEIGHTS, "stained": 0.45}


@pytest.mark.parametrize(
    "text",
    [
        "not = [toml",
        "[[data]]\nweight = 1\n",
        '[[data]]\nfolder = "a"\nweight = "high"\n',
        '[[data]]\nfolder = "a"\nsplit = "val"\n',
        "[steps]\nn = 3\n",
        '[[data]]\nfolder = "a"\n[kinds]\nstained = -1\n',
    ],
)
def test_a_bad_recipe_is_one_clear_error(tmp_path, text):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_recipe(recipe)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="--recipe"):
        read_recipe(tmp_path / "missing.toml")
