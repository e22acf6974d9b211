"""``train`` and ``evaluate``: never over the bundled weights, one line for a bad data folder.

Each test reproduces a line of issue 10 (they failed before the fix).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import napari_unet_nuclei
from napari_unet_nuclei import _model
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.cli.app import main

CLI = "import sys; from napari_unet_nuclei.cli.app import main; sys.exit(main(sys.argv[1:]))"
TINY = [
    "--steps",
    "1",
    "--batch",
    "1",
    "--crop",
    "32",
    "--base",
    "4",
    "--depth",
    "2",
    "--log-every",
    "1",
]


def _data(root: Path, shapes=((64, 80), (64, 80))) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = ["id\tsize\tnuclei\tkind\tsplit"]
    for i, shape in enumerate(shapes):
        img, lab = synthetic_nuclei(shape, seed=i)
        iio.imwrite(root / "images" / f"im{i}.png", (img / img.max() * 255).astype(np.uint8))
        tifffile.imwrite(root / "labels" / f"im{i}.tif", lab)
        rows.append(
            f"im{i}\t{shape[0]}x{shape[1]}\t{lab.max()}\tfluorescence\t{'val' if i else 'train'}"
        )
    (root / "index.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow  # a child process (or several): seconds each
def test_default_output_never_replaces_the_bundled_weights(tmp_path, tiny_weights):
    """From a repository root (weights/ holds the package's model) the default is a new file.

    Training runs in a child process: optimizers import torch._dynamo (see test_train.py).
    """
    (tmp_path / "weights").mkdir()
    repo_copy = tmp_path / "weights" / "unet_nuclei.pt"
    shutil.copy(tiny_weights, repo_copy)
    installed = _model.bundled_weights_path()
    before = repo_copy.read_bytes(), installed.read_bytes()
    data = _data(tmp_path / "data")
    train = [sys.executable, "-c", CLI, "train", "--data", str(data), "--run-dir", "run", *TINY]
    assert subprocess.run(train, cwd=tmp_path, capture_output=True).returncode == 0
    assert (repo_copy.read_bytes(), installed.read_bytes()) == before
    assert (tmp_path / "unet_nuclei_trained.pt").is_file()
    assert subprocess.run(train, cwd=tmp_path, capture_output=True).returncode == 0
    assert (tmp_path / "unet_nuclei_trained-2.pt").is_file()  # again a new file


@pytest.mark.parametrize("where", ["package", "weights"])
def test_output_inside_the_package_is_refused(tmp_path, capsys, where):
    package = Path(napari_unet_nuclei.__file__).parent
    target = (package if where == "package" else package / "weights") / "issue10-never.pt"
    try:
        code = main(
            [
                "train",
                "--data",
                str(_data(tmp_path / "data")),
                "--output",
                str(target),
                "--run-dir",
                str(tmp_path / "run"),
                *TINY,
            ]
        )
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)
    assert code == 2 and "installed package" in capsys.readouterr().err


def test_existing_output_and_init_are_never_replaced(tmp_path, tiny_weights, capsys):
    data = _data(tmp_path / "data")
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"not weights")
    run = ["--data", str(data), "--run-dir", str(tmp_path / "run"), *TINY]
    assert main(["train", *run, "--output", str(mine), "--overwrite"]) == 2
    assert mine.read_bytes() == b"not weights"
    init = tmp_path / "init.pt"
    shutil.copy(tiny_weights, init)
    assert main(["train", *run, "--init", str(init), "--output", str(init), "--overwrite"]) == 2
    assert init.read_bytes() == Path(tiny_weights).read_bytes()
    assert "would replace the input" in capsys.readouterr().err
    index = data / "index.tsv"
    before = index.read_bytes()
    assert main(["train", *run, "--output", str(index)]) == 2
    assert index.read_bytes() == before


def test_a_run_dir_holding_other_files_is_refused(tmp_path, capsys):
    data = _data(tmp_path / "data")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "done.json").write_text("my notes")
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--run-dir",
            str(tmp_path / "mine"),
            "--output",
            str(tmp_path / "w.pt"),
            *TINY,
        ]
    )
    assert (tmp_path / "mine" / "done.json").read_text() == "my notes"
    assert code == 2 and "holds other files" in capsys.readouterr().err


def _break(root: Path, how: str) -> None:
    index = root / "index.tsv"
    if how == "no index":
        index.unlink()
    elif how == "garbled index":
        index.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage")
    elif how == "missing columns":
        index.write_text("id\tsize\nim0\t64x80\n")
    elif how == "empty split":
        index.write_text(index.read_text().replace("\ttrain", "\tother").replace("\tval", "\tx"))
    elif how == "missing image":
        (root / "images" / "im0.png").unlink()
        (root / "images" / "im1.png").unlink()


def _command(command: str, data: Path, tmp_path: Path, weights: str) -> list[str]:
    """``train`` (tiny, into tmp_path) or ``evaluate`` (tiny weights) on ``data``."""
    extra = (
        ["--output", str(tmp_path / "w.pt"), "--run-dir", str(tmp_path / "run"), *TINY]
        if command == "train"
        else ["--weights", weights, "--device", "cpu"]
    )
    return [command, "--data", str(data), *extra]


BROKEN = ["no index", "garbled index", "missing columns", "empty split", "missing image"]


@pytest.mark.parametrize("how", BROKEN)
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_bad_data_folder_is_one_line(tmp_path, tiny_weights, capsys, how, command):
    data = _data(tmp_path / "data")
    _break(data, how)
    assert main(_command(command, data, tmp_path, tiny_weights)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "w.pt").exists()


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_labels_of_another_shape_are_refused(tmp_path, tiny_weights, capsys, command):
    data = _data(tmp_path / "data")
    for i in range(2):  # labels cut to a shape that differs from the image's
        path = data / "labels" / f"im{i}.tif"
        tifffile.imwrite(path, tifffile.imread(path)[:60, :70])
    assert main(_command(command, data, tmp_path, tiny_weights)) == 2
    err = capsys.readouterr().err
    assert "do not match the image" in err and err.count("\n") == 1
