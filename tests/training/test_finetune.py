"""Fine-tuning on a user's labels: a model unless worse, never over a file, clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._scale import resize_labels
from napari_unet_nuclei.training.finetune import DEFAULT_STEPS, EVAL_EVERY, Clock, finetune
from napari_unet_nuclei.training.finetune_holdout import (
    prepare_pair,
)


def test_resize_labels_keeps_ids():
    labels = np.zeros((20, 20), np.uint16)
    labels[2:8, 2:8], labels[10:18, 10:18] = 7, 65535
    out = resize_labels(labels, (40, 40))
    assert set(np.unique(out)) == {0, 7, 65535} and out.shape == (40, 40)


def test_time_left_counts_the_remaining_steps_and_scorings():
    clock = Clock(step=10.0, steps=10, scoring=5.0)  # 1 s a step, 5 s a scoring
    assert clock.left(EVAL_EVERY * 4, EVAL_EVERY * 4) == 5.0  # only the last scoring
    assert clock.left(1, 2 * EVAL_EVERY) == (2 * EVAL_EVERY - 1) + 2 * 5.0
    assert clock.left(EVAL_EVERY + 1, 2 * EVAL_EVERY + 3) == (EVAL_EVERY + 2) + 2 * 5.0


@pytest.mark.parametrize(
    "labels, match", [(np.zeros((10, 10), int), "fit"), (np.zeros((64, 64), int), "no nuclei")]
)
def test_bad_labels_are_refused(labels, match):
    image, _ = synthetic_nuclei((64, 64), seed=0)
    with pytest.raises(ValueError, match=match):
        prepare_pair(image, labels, 16.0)


def test_existing_output_is_never_replaced(tmp_path):
    image, labels = synthetic_nuclei((64, 64), seed=0)
    out = tmp_path / "mine.pt"
    out.write_bytes(b"user's file")
    with pytest.raises(FileExistsError):
        finetune([image], [labels], output=out, steps=1, device="cpu")
    assert out.read_bytes() == b"user's file"


def test_base_is_the_old_name_of_weights(tmp_path):
    image, labels = synthetic_nuclei((64, 64), seed=0)
    out = tmp_path / "mine.pt"
    out.write_bytes(b"user's file")
    with pytest.warns(DeprecationWarning, match="weights="), pytest.raises(FileExistsError):
        finetune([image], [labels], base="general", output=out, device="cpu")
    with pytest.raises(ValueError, match="steps"):
        finetune([image], [labels], steps=0, device="cpu")


# finetune() creates an optimizer, which imports torch._dynamo (and triton with torch's CUDA
# build): it runs in a child process, as the widget runs it, never in pytest's own process.
CHILD = """
import json, sys
import numpy as np
from scipy import ndimage as ndi
from napari_unet_nuclei.training.finetune import finetune
from napari_unet_nuclei._sample_data import synthetic_nuclei
kw = json.loads(sys.argv[1])
image, labels = synthetic_nuclei(tuple(kw.pop("shape")), seed=kw.pop("seed"))
if kw.pop("rings"):  # bright rims, dark insides: a look the base model misses
    image = np.where(ndi.binary_erosion(labels > 0, iterations=3), image.min(), image)
seen = []
r = finetune([image], [labels], device="cpu",
             progress=lambda s, n, loss, left: seen.append((s, n, left)), **kw)
print(json.dumps(dict(path=None if r.path is None else str(r.path), score=r.score,
                      base_score=r.base_score, first=seen[0], last=seen[-1], worse=r.worse)))
"""


def _finetune_in_child(**options) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_model_as_good_as_the_base_is_written(tmp_path):
    """Unchanged weights (lr 0) score as the base: not below it, so the user gets a model."""
    result = _finetune_in_child(
        shape=[160, 160], seed=2, rings=False, steps=2, lr=0.0, output=str(tmp_path / "m.pt")
    )
    assert result["score"] == result["base_score"] and not result["worse"]
    assert result["path"] == str(tmp_path / "m.pt") and (tmp_path / "m.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("keep_worse", [False, True])
def test_a_worse_model_is_written_only_when_asked(tmp_path, keep_worse):
    """A learning rate of 1 without the pull to the base wrecks the model: it scores lower."""
    out = tmp_path / "m.pt"
    result = _finetune_in_child(
        shape=[160, 160],
        seed=2,
        rings=False,
        steps=2,
        lr=1.0,
        l2sp=0.0,
        output=str(out),
        keep_worse=keep_worse,
    )
    assert result["worse"] and result["score"] < result["base_score"]
    assert out.exists() == keep_worse and (result["path"] is not None) == keep_worse


@pytest.mark.slow
def test_finetune_learns_a_new_look(tmp_path):
    """Nuclei drawn as rings (bright rim, dark inside) fool the base model; a fine-tune helps."""
    result = _finetune_in_child(
        shape=[256, 256], seed=5, rings=True, steps=None, output=str(tmp_path / "m.pt")
    )
    assert result["first"][:2] == [1, DEFAULT_STEPS]
    assert result["first"][2] > 0 and result["last"][2] > 0  # time left, honest to the end
    assert result["path"] == str(tmp_path / "m.pt") and result["score"] > result["base_score"]
    model = load_model(str(tmp_path / "m.pt"))
    assert model.meta["base"] == "general" and model.meta["holdout_ap50"] == result["score"]
    assert model.meta["base_holdout_ap50"] == result["base_score"]
