"""What the command-line fronts share (``cli.common``): one-line errors, options, settings."""

from __future__ import annotations

import argparse

import pytest

from napari_unet_nuclei.cli.common import (
    add_diameter_argument,
    add_overwrite_argument,
    add_stain_argument,
    diameter_value,
    new_output,
    one_line,
    segment_settings,
)


def test_one_line_keeps_the_message_and_names_other_types():
    assert one_line(ValueError("bad\nsecond line")) == "bad"
    assert one_line(OSError("disk full")) == "disk full"
    assert one_line(RuntimeError("CUDA error")) == "RuntimeError: CUDA error"
    assert one_line(MemoryError()) == "MemoryError"


def test_one_diameter_parser_for_the_command_line():
    assert diameter_value("auto") == "auto" and diameter_value("none") is None
    assert diameter_value("17") == 17.0
    with pytest.raises(argparse.ArgumentTypeError, match="auto, none or a positive"):
        diameter_value("-3")


def test_the_shared_options_give_settings_by_their_names():
    p = argparse.ArgumentParser()
    add_diameter_argument(p)
    add_stain_argument(p)
    add_overwrite_argument(p)
    p.add_argument("--threshold", type=float)
    p.add_argument("--no-split", action="store_true")
    args = p.parse_args(["--diameter", "none", "--threshold", "0.3", "--no-split"])
    assert segment_settings(args) == dict(threshold=0.3, diameter=None, split=False, stain="auto")
    assert segment_settings(p.parse_args(["--stain", "grey"]))["stain"] == "grey"
    with pytest.raises(SystemExit):
        p.parse_args(["--stain", "eosin"])
    assert not args.overwrite and p.parse_args(["--overwrite"]).overwrite
    assert segment_settings(p.parse_args([]))["diameter"] == "auto"


def test_new_output_never_replaces_a_file(tmp_path, capsys):
    target = tmp_path / "model.pt"
    assert new_output(str(target), "write the model") == target
    target.write_text("x")
    assert new_output(str(target), "write the model") is None
    assert "error:" in capsys.readouterr().err and target.read_text() == "x"
