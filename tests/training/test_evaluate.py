"""``evaluate``: labels from the engine, scores per folder and per kind, on synthetic folders.

The command (``napari-unet-nuclei evaluate``) is tested in tests/cli/test_evaluate.py.
"""

from __future__ import annotations

from napari_unet_nuclei._engine import NucleusModel
from napari_unet_nuclei._settings import Settings
from napari_unet_nuclei.training.dataset import read_index, read_pair
from napari_unet_nuclei.training.evaluate import (
    evaluate,
    evaluate_folders,
    format_table,
)
from napari_unet_nuclei.training.metrics import match_counts

from .test_dataset import make_folder


def _folders(tmp_path):
    a = make_folder(tmp_path / "a", ["fluorescence", "stained", "stained"], ["val"] * 3)
    b = make_folder(tmp_path / "b", ["fluorescence", "fluorescence"], ["val", "train"], seed=5)
    return a, b


def test_scores_per_folder_and_kind(tmp_path, tiny_weights):
    a, b = _folders(tmp_path)
    scores = evaluate_folders([a, b], "val", tiny_weights, "cpu")
    assert list(scores) == ["a", "b"]
    assert {k: r["images"] for k, r in scores["a"].items()} == {
        "all": 3,
        "fluorescence": 1,
        "stained": 2,
    }
    assert {k: r["images"] for k, r in scores["b"].items()} == {"all": 1, "fluorescence": 1}
    assert scores["a"] == evaluate(a, "val", tiny_weights, "cpu")  # one folder alone: the same
    table = format_table(scores).splitlines()
    assert table[0].split()[:3] == ["folder", "kind", "images"]
    assert [line.split()[:3] for line in table[1:]] == [
        ["a", "all", "3"],
        ["a", "fluorescence", "1"],
        ["a", "stained", "2"],
        ["b", "all", "1"],
        ["b", "fluorescence", "1"],
    ]


def test_the_labels_are_the_engines(tmp_path, tiny_weights):
    a, _ = _folders(tmp_path)
    settings = Settings.of(threshold=0.4)
    model = NucleusModel(tiny_weights, "cpu")
    entry = read_index(a, "val")[0]
    image, gt = read_pair(entry)
    expected = model.segment(image, settings=settings).labels
    assert expected.max() > 0  # the tiny model finds something: a score that can move
    got = evaluate(a, "val", tiny_weights, "cpu", threshold=0.4, limit=1)["all"]
    counts = match_counts(gt, expected)
    assert got["AP@0.5"] == counts[0].ap and got["images"] == 1
