"""Fine-tuning on a user's labels: better or nothing, never over a file, clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.training.finetune import (
    finetune,
    prepare_pair,
    resize_labels,
    split_holdout,
)


def test_resize_labels_keeps_ids():
    labels = np.zeros((20, 20), np.uint16)
    labels[2:8, 2:8], labels[10:18, 10:18] = 7, 65535
    out = resize_labels(labels, (40, 40))
    assert set(np.unique(out)) == {0, 7, 65535} and out.shape == (40, 40)


def test_pairs_come_to_the_model_scale_and_holdout_is_a_band():
    image, labels = synthetic_nuclei((200, 300), seed=1)
    pair = prepare_pair(image, labels, model_diameter=16.0)
    train, held = split_holdout(pair)
    assert train.labels.shape[0] == held.labels.shape[0] == pair.labels.shape[0]
    assert train.labels.shape[1] + held.labels.shape[1] == pair.labels.shape[1]
    assert held.targets.shape[1:] == held.labels.shape == held.norm.shape


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
r = finetune([image], [labels], device="cpu", progress=lambda s, n, loss: seen.append((s, n)),
             **kw)
print(json.dumps(dict(path=None if r.path is None else str(r.path), score=r.score,
                      base_score=r.base_score, first=seen[0], last=seen[-1])))
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
def test_no_model_is_written_when_it_does_not_beat_the_base(tmp_path):
    result = _finetune_in_child(
        shape=[160, 160], seed=2, rings=False, steps=2, lr=0.0, output=str(tmp_path / "m.pt")
    )
    assert result["path"] is None and not (tmp_path / "m.pt").exists()
    assert result["score"] == result["base_score"]


@pytest.mark.slow
def test_finetune_learns_a_new_look(tmp_path):
    """Nuclei drawn as rings (bright rim, dark inside) fool the base model; a fine-tune helps."""
    result = _finetune_in_child(
        shape=[256, 256], seed=5, rings=True, steps=120, lr=3e-4, output=str(tmp_path / "m.pt")
    )
    assert result["first"] == [1, 120]
    assert result["path"] == str(tmp_path / "m.pt") and result["score"] > result["base_score"]
    model = load_model(str(tmp_path / "m.pt"))
    assert model.meta["base"] == "general" and model.meta["holdout_ap50"] == result["score"]
