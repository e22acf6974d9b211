"""``napari-unet-nuclei finetune`` (``_cli_finetune``): refused before any training."""

from __future__ import annotations

import pytest

from napari_unet_nuclei._sample_data import synthetic_nuclei


def test_cli_refuses_existing_output_and_missing_labels(tmp_path, capsys):
    import tifffile

    from napari_unet_nuclei.cli.app import main

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    image, labels = synthetic_nuclei((64, 64), seed=0)
    tifffile.imwrite(tmp_path / "img" / "a.tif", image)
    out = tmp_path / "m.pt"
    out.write_bytes(b"keep")
    args = ["finetune", "--images", str(tmp_path / "img"), "--labels", str(tmp_path / "lab")]
    assert main(args + ["-o", str(out)]) == 2 and out.read_bytes() == b"keep"
    assert main(args + ["-o", str(tmp_path / "new.pt")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "no label file" in err and "no image with a label" in err
    assert not (tmp_path / "new.pt").exists()


def _pair_folders(tmp_path):
    import tifffile

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    image, labels = synthetic_nuclei((64, 64), seed=0)
    tifffile.imwrite(tmp_path / "img" / "a.tif", image)
    tifffile.imwrite(tmp_path / "lab" / "a.tif", labels)
    return ["finetune", "--images", str(tmp_path / "img"), "--labels", str(tmp_path / "lab")]


@pytest.mark.parametrize("steps", ["0", "-5"])
def test_steps_below_one_are_a_bad_argument(tmp_path, capsys, tiny_weights, steps):
    """Issue 23, 9: --steps 0 ran 240 steps, --steps -5 trained nothing and exited 1."""
    from napari_unet_nuclei.cli.app import main

    argv = [*_pair_folders(tmp_path), "-o", str(tmp_path / "m.pt"), "--weights", tiny_weights]
    assert main([*argv, "--steps", steps, "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --steps must be at least 1, got {steps}"
    assert not (tmp_path / "m.pt").exists()


def test_finetune_never_writes_into_the_package(tmp_path, capsys, tiny_weights, monkeypatch):
    """Issue 23, 5: refused before any training, as `train` and `average` are."""
    from napari_unet_nuclei import _outputs
    from napari_unet_nuclei.cli.app import main

    weights = tmp_path / "site-packages" / "napari_unet_nuclei" / "weights"
    weights.mkdir(parents=True)
    folders = (weights.parent, weights)
    monkeypatch.setattr(_outputs, "package_folders", lambda: folders, raising=False)
    argv = [*_pair_folders(tmp_path), "-o", str(weights / "m.pt"), "--weights", tiny_weights]
    assert main([*argv, "--steps", "2", "--device", "cpu"]) == 2
    assert "installed package" in capsys.readouterr().err
    assert list(weights.iterdir()) == []


def test_cli_options_keep_anyway_and_default_steps():
    from napari_unet_nuclei.cli.app import build_parser
    from napari_unet_nuclei.training.finetune import DEFAULT_STEPS

    args = ["finetune", "--images", "i", "--labels", "l", "-o", "m.pt"]
    assert not build_parser().parse_args(args).keep_anyway
    assert build_parser().parse_args([*args, "--keep-anyway"]).keep_anyway
    finetune_parser = build_parser()._subparsers._group_actions[0].choices["finetune"]
    assert f"default {DEFAULT_STEPS}" in finetune_parser.format_help()
