"""The train command on a tiny synthetic DSB-style folder: runs, checkpoints, resumes.

Training runs in a fresh process, as from the shell: torch's optimizers import
``torch._dynamo`` (and triton with torch's CUDA build), which crashes a process holding
napari's Qt OpenGL context, as the widget tests' pytest process does.
"""

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import torch

from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._sample_data import synthetic_nuclei

CLI = "import sys; from napari_unet_nuclei.cli.app import main; sys.exit(main(sys.argv[1:]))"


def _fake_data(root):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = ["id\tsize\tnuclei\tkind\tsplit"]
    for i, kind in enumerate(["fluorescence", "stained", "fluorescence"]):
        img, lab = synthetic_nuclei((64, 80), seed=i)
        img8 = (img / img.max() * 255).astype(np.uint8)
        iio.imwrite(root / "images" / f"im{i}.png", np.stack([img8] * 3, -1))
        tifffile.imwrite(root / "labels" / f"im{i}.tif", lab)
        rows.append(f"im{i}\t64x80\t{lab.max()}\t{kind}\t{'val' if i == 2 else 'train'}")
    (root / "index.tsv").write_text("\n".join(rows) + "\n")


def cli(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``napari-unet-nuclei ARGS`` in a fresh Python process (its log is on stderr)."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=600
    )


TINY_ARGS = ["--steps", "2", "--batch", "2", "--crop", "32", "--base", "4", "--depth", "2"]


def _train_run(root, tmp_path, steps, *extra) -> subprocess.CompletedProcess:
    return cli(
        [
            "train",
            "--data",
            str(root),
            *TINY_ARGS,
            "--steps",
            str(steps),
            "--checkpoint-every",
            "2",
            "--log-every",
            "1",
            "--run-dir",
            str(tmp_path / "run"),
            "--output",
            str(tmp_path / "w.pt"),
            *extra,
        ]
    )


def _train(root, tmp_path, steps) -> int:
    return _train_run(root, tmp_path, steps).returncode


@pytest.mark.slow  # a child process (or several): seconds each
def test_train_writes_loadable_weights_and_resumes(tmp_path):
    root = tmp_path / "data"
    _fake_data(root)
    assert _train(root, tmp_path, 2) == 0
    first = load_model(str(tmp_path / "w.pt"))
    assert first.config.base == 4 and first.meta["diameter"] > 5
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 2
    resumed = _train_run(root, tmp_path, 4, "--overwrite")  # w.pt: the first run's
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stderr and "at step 2" in resumed.stderr
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 4


@pytest.mark.slow  # a child process (or several): seconds each
def test_init_starts_from_given_weights(tmp_path):
    root = tmp_path / "data"
    _fake_data(root)
    assert _train(root, tmp_path, 2) == 0
    args = [
        "train",
        "--data",
        str(root),
        "--steps",
        "1",
        "--batch",
        "2",
        "--crop",
        "32",
        "--run-dir",
        str(tmp_path / "run2"),
        "--output",
        str(tmp_path / "w2.pt"),
        "--init",
        str(tmp_path / "w.pt"),
    ]
    refused = cli(args)  # default base/depth differ from the tiny weights
    assert refused.returncode == 2
    assert "error: --init weights" in refused.stderr and "Traceback" not in refused.stderr
    assert "different architecture" in refused.stderr
    assert cli(args + ["--base", "4", "--depth", "2", "--lr", "1e-9"]).returncode == 0
    a, b = load_model(str(tmp_path / "w.pt")), load_model(str(tmp_path / "w2.pt"))
    wa, wb = a.state_dict()["head.weight"], b.state_dict()["head.weight"]
    assert torch.allclose(wa, wb, atol=1e-2)


@pytest.mark.slow  # a child process (or several): seconds each
def test_any_step_count_trains(tmp_path):
    """20 steps once crashed inside OneCycleLR (a warm-up phase of length 0)."""
    from napari_unet_nuclei.training.train import warmup_share

    assert warmup_share(7000) == 0.05 and warmup_share(20) != 0.05
    root = tmp_path / "data"
    _fake_data(root)
    assert _train(root, tmp_path, 20) == 0


@pytest.mark.slow  # a child process (or several): seconds each
def test_strong_share_must_be_a_share(tmp_path):
    for bad in ("0", "1.5", "x"):
        out = cli(["train", "--data", str(tmp_path), "--strong", "--strong-share", bad])
        assert out.returncode == 2 and "--strong-share" in out.stderr


@pytest.mark.slow  # a child process (or several): seconds each
def test_train_reads_several_folders_with_weights_and_a_recipe(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _fake_data(first)
    _fake_data(second)
    run = _train_run(first, tmp_path, 2, "--data", f"{second}:0.25")
    assert run.returncode == 0, run.stderr
    assert "first: 2 training images, 80 % of the crops" in run.stderr
    assert "second: 2 training images, 20 % of the crops" in run.stderr
    meta = load_model(str(tmp_path / "w.pt")).meta["train_args"]
    assert meta["data"] == [
        {"folder": str(first), "weight": 1.0},
        {"folder": str(second), "weight": 0.25},
    ]
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        '[[data]]\nfolder = "first"\nweight = 3\n[[data]]\nfolder = "second"\n'
        "[kinds]\nstained = 0\n"
    )
    args = ["--recipe", str(recipe), "--run-dir", str(tmp_path / "run2"), "--output"]
    out = cli(["train", *args, str(tmp_path / "w2.pt"), *TINY_ARGS])
    assert out.returncode == 0, out.stderr
    assert "first: 2 training images, 75 % of the crops" in out.stderr
    meta = load_model(str(tmp_path / "w2.pt")).meta["train_args"]
    assert meta["kind_weights"]["stained"] == 0.0


RESUME_LONGER = """
import json, sys, tempfile, torch
from pathlib import Path
from napari_unet_nuclei._model import UNet, UNetConfig
from napari_unet_nuclei.training.config import TrainConfig
from napari_unet_nuclei.training.train import _optimizer, _save_checkpoint, _start
model, ckpt = UNet(UNetConfig(base=4, depth=2)), Path(tempfile.mkdtemp()) / "checkpoint.pt"
short = TrainConfig(data=("x",), steps=20)
opt, sched = _optimizer(model, short)
for _ in range(10):
    opt.step(); sched.step()
_save_checkpoint(ckpt, model, opt, sched, 10, {})
longer = TrainConfig(data=("x",), steps=60)
opt, sched = _optimizer(model, longer)
start = _start(model, opt, sched, longer, ckpt, "cpu")
lrs = []
for _ in range(start, 60):  # the rate each optimizer step uses
    lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
print(json.dumps({"start": start, "total": sched.total_steps, "lrs": lrs}))
"""


@pytest.mark.slow  # a child process (or several): seconds each
def test_a_run_resumed_with_more_steps_anneals_over_all_of_them():
    done = subprocess.run(
        [sys.executable, "-c", RESUME_LONGER], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    import json

    out = json.loads(done.stdout.splitlines()[-1])
    assert out["start"] == 10 and out["total"] == 60
    lrs = out["lrs"]
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False))  # past the peak: only down
    assert lrs[-1] < 1e-3 * lrs[0]  # annealed by the 60th step, not at the 20th and up again
