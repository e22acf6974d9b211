"""``napari-unet-nuclei finetune`` (``_cli_finetune``): refused before any training."""

from __future__ import annotations

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


def test_cli_options_and_refused_steps(tmp_path, capsys):
    import tifffile

    from napari_unet_nuclei.cli.app import build_parser, main
    from napari_unet_nuclei.training.finetune import DEFAULT_STEPS

    args = ["finetune", "--images", "i", "--labels", "l", "-o", "m.pt"]
    assert not build_parser().parse_args(args).keep_anyway
    assert build_parser().parse_args([*args, "--keep-anyway"]).keep_anyway
    finetune_parser = build_parser()._subparsers._group_actions[0].choices["finetune"]
    assert f"default {DEFAULT_STEPS}" in finetune_parser.format_help()
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    image, labels = synthetic_nuclei((64, 64), seed=0)
    tifffile.imwrite(tmp_path / "img" / "a.tif", image)
    tifffile.imwrite(tmp_path / "lab" / "a.tif", labels)
    folders = ["--images", str(tmp_path / "img"), "--labels", str(tmp_path / "lab")]
    out = tmp_path / "new.pt"
    assert main(["finetune", *folders, "-o", str(out), "--steps", "0"]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err and not out.exists()
