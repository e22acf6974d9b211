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
