"""Several data folders read by one loader: folder weights, kind weights within a folder."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.cli.app import main
from napari_unet_nuclei.training.batches import load_training_set, sampling_weights
from napari_unet_nuclei.training.config import DataSource
from napari_unet_nuclei.training.dataset import DataError


def make_folder(root: Path, kinds: list[str], splits: list[str], seed: int = 0) -> Path:
    """A DSB2018-style folder of synthetic images: images/, labels/, index.tsv."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = ["id\tsize\tnuclei\tkind\tsplit"]
    for i, (kind, split) in enumerate(zip(kinds, splits, strict=True)):
        img, lab = synthetic_nuclei((64, 80), seed=seed + i)
        img8 = (img / img.max() * 255).astype(np.uint8)
        iio.imwrite(root / "images" / f"im{i}.png", np.stack([img8] * 3, -1))
        tifffile.imwrite(root / "labels" / f"im{i}.tif", lab)
        rows.append(f"im{i}\t64x80\t{lab.max()}\t{kind}\t{split}")
    (root / "index.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_folder_weights_give_each_folder_its_share(tmp_path):
    a = make_folder(tmp_path / "a", ["fluorescence"] * 3 + ["stained"], ["train"] * 4)
    b = make_folder(tmp_path / "b", ["fluorescence", "fluorescence"], ["train", "val"], seed=9)
    data = load_training_set([DataSource(a, 3.0), DataSource(b, 1.0)])
    assert len(data.images) == len(data.targets) == len(data.diameters) == 5  # b's val left out
    assert np.isclose(data.prob.sum(), 1.0)
    assert np.isclose(data.prob[:4].sum(), 0.75) and np.isclose(data.prob[4], 0.25)
    # within a: fluorescence 0.6 and stained 0.3 of the default kind weights, renormalised
    assert np.allclose(data.prob[:3], 0.75 * (0.6 / 0.9) / 3)
    assert np.isclose(data.prob[3], 0.75 * 0.3 / 0.9)
    assert data.stains[3] is not None and data.stains[0] is None  # colour stained: stain jitter
    single = load_training_set(a)
    assert np.allclose(single.prob, data.prob[:4] / 0.75)


def test_a_folder_whose_kinds_all_weigh_nothing_is_refused():
    with pytest.raises(DataError, match="weighs 0"):
        sampling_weights(["stained", "stained"], {"stained": 0.0, "fluorescence": 1.0}, "x")
    assert np.allclose(sampling_weights(["odd", "odd"], {}), [0.5, 0.5])  # unknown kind: 0.1


def test_a_bad_second_folder_is_one_line(tmp_path, capsys):
    a = make_folder(tmp_path / "a", ["fluorescence"], ["train"])
    code = main(
        ["train", "--data", str(a), "--data", str(tmp_path / "nowhere"), "--run-dir",
         str(tmp_path / "run"), "--output", str(tmp_path / "w.pt"), "--steps", "1"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "nowhere" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w.pt").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--data DIR"),
        (["--data", "x", "--recipe", "r.toml"], "--data DIR"),
        (["--data", "x:0"], "--data must be"),
        (["--data", "x", "--steps", "0"], "--steps must be"),
        (["--data", "x", "--zoom-min", "2", "--zoom-max", "1"], "--zoom-max must be"),
        (["--recipe", "missing.toml"], "--recipe"),
    ],
)
def test_bad_train_options_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    code = main(["train", "--run-dir", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
