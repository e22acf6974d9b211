"""The train command on a tiny synthetic DSB-style folder: runs, checkpoints, resumes.

Training runs in a fresh process, as from the shell: torch's optimizers import
``torch._dynamo`` (and triton with torch's CUDA build), which crashes a process holding
napari's Qt OpenGL context, as the widget tests' pytest process does.
"""

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import tifffile
import torch

from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._synthetic import synthetic_nuclei
from napari_unet_nuclei._training_data import TrainingSet, make_batch

CLI = "import sys; from napari_unet_nuclei.cli import main; sys.exit(main(sys.argv[1:]))"


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


def _train_run(root, tmp_path, steps, *extra) -> subprocess.CompletedProcess:
    return cli(
        [
            "train",
            "--data",
            str(root),
            "--steps",
            str(steps),
            "--batch",
            "2",
            "--crop",
            "32",
            "--base",
            "4",
            "--depth",
            "2",
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


def test_batches_depend_only_on_seed_and_step():
    img, lab = synthetic_nuclei((64, 64), seed=0)
    from napari_unet_nuclei._dataset import targets
    from napari_unet_nuclei._normalize import normalize_image

    data = TrainingSet([normalize_image(img)], [targets(lab)], np.array([1.0]), np.array([14.0]))
    args = (data, 2, 32, (0.5, 2.0), 20.0, True)
    a, b, c = make_batch(3, 0, *args), make_batch(3, 0, *args), make_batch(4, 0, *args)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].shape == (2, 1, 32, 32) and a[1].shape == (2, 2, 32, 32)
    assert set(np.unique(a[1][:, 0].numpy())) <= {0.0, 1.0}


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
    assert refused.returncode != 0
    assert "ValueError: --init weights" in refused.stderr
    assert "different architecture" in refused.stderr
    assert cli(args + ["--base", "4", "--depth", "2", "--lr", "1e-9"]).returncode == 0
    a, b = load_model(str(tmp_path / "w.pt")), load_model(str(tmp_path / "w2.pt"))
    wa, wb = a.state_dict()["head.weight"], b.state_dict()["head.weight"]
    assert torch.allclose(wa, wb, atol=1e-2)


def test_worker_processes_give_the_same_batches():
    import argparse

    from napari_unet_nuclei._dataset import targets
    from napari_unet_nuclei._normalize import normalize_image
    from napari_unet_nuclei._training_data import step_batches

    images = [synthetic_nuclei((64, 64), seed=s) for s in range(2)]
    data = TrainingSet(
        [normalize_image(i) for i, _ in images],
        [targets(lab) for _, lab in images],
        np.array([0.5, 0.5]),
        np.array([14.0, 14.0]),
    )
    args = argparse.Namespace(
        steps=5,
        seed=1,
        batch=2,
        crop=32,
        zoom_min=0.5,
        zoom_max=2.0,
        diameter=0.0,
        blur=True,
        strong=True,
        workers=0,
        device="cpu",
    )
    alone = list(step_batches(data, args, start=1))
    args.workers = 2
    pooled = list(step_batches(data, args, start=1))
    assert len(alone) == len(pooled) == 4
    for (xa, ya), (xb, yb) in zip(alone, pooled, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(alone[0][0], alone[1][0])


def test_kind_weights_option():
    import pytest

    from napari_unet_nuclei._training_data import KIND_WEIGHTS, parse_kind_weights

    assert parse_kind_weights("") == KIND_WEIGHTS
    w = parse_kind_weights("fluorescence=0.45, stained=0.45")
    assert w == {"fluorescence": 0.45, "stained": 0.45, "brightfield": 0.1}
    for bad in ("stained", "stained=-1", "stained=x"):
        with pytest.raises(ValueError, match="kind-weights"):
            parse_kind_weights(bad)


def test_any_step_count_trains(tmp_path):
    """20 steps once crashed inside OneCycleLR (a warm-up phase of length 0)."""
    from napari_unet_nuclei.train import warmup_share

    assert warmup_share(7000) == 0.05 and warmup_share(20) != 0.05
    root = tmp_path / "data"
    _fake_data(root)
    assert _train(root, tmp_path, 20) == 0


def test_strong_share_applies_the_chain_to_part_of_the_crops():
    from napari_unet_nuclei._dataset import targets
    from napari_unet_nuclei._normalize import normalize_image

    img, lab = synthetic_nuclei((64, 64), seed=0)
    data = TrainingSet([normalize_image(img)], [targets(lab)], np.array([1.0]), np.array([14.0]))
    args = (data, 16, 32, (0.8, 1.25), 14.0, False)

    def batch(strong):
        return make_batch(5, 0, *args, strong)[0]

    assert torch.equal(batch(True), batch(1.0))  # the flag alone: every crop, as before
    half, off, full = batch(0.5), batch(0.0), batch(1.0)
    assert torch.equal(half, batch(0.5))
    assert not torch.equal(half, off) and not torch.equal(half, full)


def test_strong_share_must_be_a_share(tmp_path):
    for bad in ("0", "1.5", "x"):
        out = cli(["train", "--data", str(tmp_path), "--strong", "--strong-share", bad])
        assert out.returncode == 2 and "--strong-share" in out.stderr
