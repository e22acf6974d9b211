"""``bench/bench_loco.py --lodo``: which trainings leave which data set out."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .test_dataset import make_folder

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture()
def loco():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_loco

        yield bench_loco
    finally:
        sys.path.remove(str(BENCH))


def test_each_recipe_leaves_each_set_out_once(tmp_path, loco):
    dsb = make_folder(tmp_path / "dsb", ["fluorescence", "stained", "fluorescence"], ["train"] * 3)
    kromp = make_folder(tmp_path / "kromp", ["fluorescence"], ["train"])
    bit = make_folder(tmp_path / "bit", ["fluorescence"], ["train"])
    recipes = {
        "A": f"--data {dsb} --blur",
        "B": f"--data {dsb}:0.6 --data {kromp}:0.2 --data={bit}:0.2 --blur",
    }
    groups = ["stained-64x80"]
    plan = loco.lodo_plan(recipes, dsb, [kromp, bit], groups, tmp_path / "scratch")
    by = {(e["held"], e["recipe"]): e for e in plan}
    assert [e["held"] for e in plan] == ["bit", "bit", "kromp", "kromp", *groups * 2]
    assert by["kromp", "B"]["args"] == ["--data", f"{dsb}:0.6", "--data", f"{bit}:0.2", "--blur"]
    assert by["bit", "B"]["args"][:4] == ["--data", f"{dsb}:0.6", "--data", f"{kromp}:0.2"]
    # A never used either folder: one training, named after the first held-out set
    assert by["kromp", "A"]["model"] == by["bit", "A"]["model"] == "A-bit"
    assert len({e["model"] for e in plan}) == 5
    # a DSB group: the DSB folder swapped for a scratch copy whose train split lacks it
    held = by["stained-64x80", "B"]
    scratch = Path(held["args"][1].rsplit(":", 1)[0])
    assert scratch != dsb and held["folder"] == scratch and held["split"] == "holdout"
    index = (scratch / "index.tsv").read_text()
    assert "stained\tholdout" in index and "fluorescence\ttrain" in index
    again = loco.lodo_plan(recipes, dsb, [bit, kromp], [], tmp_path / "other")
    assert [e["model"] for e in again] == [e["model"] for e in plan[:4]]  # any order: same names


def test_a_plan_made_again_in_the_same_folder_is_the_same(tmp_path, loco):
    dsb = make_folder(tmp_path / "dsb", ["fluorescence", "stained"], ["train"] * 2)
    recipes = {"A": f"--data {dsb}", "B": f"--data {dsb}:0.5 --blur"}
    first = loco.lodo_plan(recipes, dsb, [], ["stained-64x80"], tmp_path / "keep")
    index = (first[0]["folder"] / "index.tsv").read_text()
    again = loco.lodo_plan(recipes, dsb, [], ["stained-64x80"], tmp_path / "keep")  # --keep
    assert [e["args"] for e in again] == [e["args"] for e in first]
    assert (again[0]["folder"] / "index.tsv").read_text() == index


def test_the_table_has_the_sets_scored_both_ways_their_mean_and_the_worst(tmp_path, loco):
    def row(held, recipe, ap, images=10):
        return {"held": held, "recipe": recipe, "model": f"{recipe}-{held}",
                "AP@0.5": ap, "DSB": ap / 2, "images": images}  # fmt: skip

    rows = [row("bit", "A", 0.6), row("bit", "B", 0.7), row("kromp", "A", 0.7),
            row("kromp", "B", 0.68), row("grp", "A", 0.5)]  # fmt: skip
    lines = loco.lodo_table(rows, ["A", "B"]).splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["bit", "kromp"]  # grp: A only
    assert lines[1].split()[2:5] == ["0.600", "0.700", "+0.100"]
    assert lines[3].split()[:6] == ["mean", "of", "2", "0.650", "0.690", "+0.040"]
    assert lines[4] == "worst B-A AP@0.5: -0.020"


def test_scoring_skips_models_not_trained_and_reuses_rows_scored(tmp_path, loco, monkeypatch):
    scored = []

    def fake_evaluate(folders, split, weights, device):
        scored.append(Path(weights).name)
        return {"x": {"all": {"AP@0.5": 0.5, "DSB": 0.25, "images": 3}}}

    monkeypatch.setattr(loco, "evaluate_folders", fake_evaluate)
    models = tmp_path / "models"
    models.mkdir()
    (models / "A-bit.pt").write_bytes(b"")
    plan = [dict(held="bit", recipe=r, model=f"{r}-bit", folder=tmp_path, split="all")
            for r in ("A", "B")]  # fmt: skip
    scores = tmp_path / "scores.jsonl"
    assert [r["model"] for r in loco.score_plan(plan, models, "cpu", scores)] == ["A-bit"]
    (models / "B-bit.pt").write_bytes(b"")
    rows = loco.score_plan(plan, models, "cpu", scores)
    assert scored == ["A-bit.pt", "B-bit.pt"]  # A-bit read back, not scored again
    assert [(r["recipe"], r["AP@0.5"]) for r in rows] == [("A", 0.5), ("B", 0.5)]
