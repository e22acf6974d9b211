"""``napari-unet-nuclei evaluate``: the command's options reach the scoring; its table printed.

The scoring itself (labels from the engine, scores per folder and kind) is tested in
tests/training/test_evaluate.py.
"""

from __future__ import annotations

from training.test_dataset import make_folder

from napari_unet_nuclei._settings import Settings
from napari_unet_nuclei.cli import evaluate as evaluate_cli
from napari_unet_nuclei.cli.app import main
from napari_unet_nuclei.training.evaluate import REPORTED


def _folders(tmp_path):
    a = make_folder(tmp_path / "a", ["fluorescence", "stained", "stained"], ["val"] * 3)
    b = make_folder(tmp_path / "b", ["fluorescence", "fluorescence"], ["val", "train"], seed=5)
    return a, b


def test_the_command_scores_several_folders(tmp_path, tiny_weights, capsys):
    a, b = _folders(tmp_path)
    args = ["evaluate", "--data", str(a), "--data", str(b), "--weights", tiny_weights]
    assert main([*args, "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "folder"
    assert [line.split()[:2] for line in out[1:-1]][::2][:2] == [["a", "all"], ["a", "stained"]]
    assert main([*args, "--threshold", "2"]) == 2
    assert "threshold" in capsys.readouterr().err


def test_every_option_reaches_the_scoring_and_one_folder_has_no_folder_column(monkeypatch, capsys):
    seen = {}
    row = {"images": 2, **{f"AP@{t}": 0.5 for t in REPORTED}, "DSB": 0.25}

    def scoring(folders, split, weights, device, limit, settings):
        seen.update(folders=folders, split=split, weights=weights, device=device, limit=limit)
        seen["settings"] = settings
        return {"a": {"all": row}}

    monkeypatch.setattr(evaluate_cli, "evaluate_folders", scoring)
    args = ["evaluate", "--data", "a", "--split", "all", "--weights", "stained"]
    args += ["--device", "cpu", "--limit", "5", "--threshold", "0.3", "--no-split"]
    assert main([*args, "--diameter", "20", "--tta"]) == 0
    assert seen.pop("settings") == Settings.of(threshold=0.3, split=False, diameter=20, tta=True)
    assert seen == dict(folders=["a"], split="all", weights="stained", device="cpu", limit=5)
    head, line = capsys.readouterr().out.splitlines()[:2]
    assert head.split()[:2] == ["kind", "images"]  # one folder: its table alone
    assert line.split() == ["all", "2", "0.500", "0.500", "0.500", "0.250"]
