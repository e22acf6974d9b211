"""Fine-tuning on a user's labels: better or nothing, never over a file, clear errors."""

import numpy as np
import pytest

from napari_unet_nuclei._finetune import finetune, prepare_pair, resize_labels, split_holdout
from napari_unet_nuclei._model import load_model
from napari_unet_nuclei._synthetic import synthetic_nuclei


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


@pytest.mark.parametrize("labels, match", [(np.zeros((10, 10), int), "fit"),
                                           (np.zeros((64, 64), int), "no nuclei")])
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


@pytest.mark.slow
def test_no_model_is_written_when_it_does_not_beat_the_base(tmp_path):
    image, labels = synthetic_nuclei((160, 160), seed=2)
    result = finetune([image], [labels], output=tmp_path / "m.pt", steps=2, lr=0.0,
                      device="cpu")
    assert not result.improved and result.path is None and not (tmp_path / "m.pt").exists()
    assert result.score == result.base_score


@pytest.mark.slow
def test_finetune_learns_a_new_look(tmp_path):
    """Nuclei drawn as rings (bright rim, dark inside) fool the base model; a fine-tune helps."""
    from scipy import ndimage as ndi

    image, labels = synthetic_nuclei((256, 256), seed=5)
    inside = ndi.binary_erosion(labels > 0, iterations=3)
    rings = np.where(inside, image.min(), image).astype(np.float32)
    steps = []
    result = finetune([rings], [labels], output=tmp_path / "m.pt", steps=120, lr=3e-4,
                      device="cpu", progress=lambda s, n, loss: steps.append((s, n, loss)))
    assert steps and steps[0][:2] == (1, 120)
    assert result.improved and result.score > result.base_score
    model = load_model(str(tmp_path / "m.pt"))
    assert model.meta["base"] == "general" and model.meta["holdout_ap50"] == result.score


def test_cli_refuses_existing_output_and_missing_labels(tmp_path, capsys):
    import tifffile

    from napari_unet_nuclei.cli import main

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    image, labels = synthetic_nuclei((64, 64), seed=0)
    tifffile.imwrite(tmp_path / "img" / "a.tif", image)
    out = tmp_path / "m.pt"
    out.write_bytes(b"keep")
    args = ["finetune", "--images", str(tmp_path / "img"), "--labels", str(tmp_path / "lab")]
    assert main(args + ["-o", str(out)]) == 2 and out.read_bytes() == b"keep"
    assert main(args + ["-o", str(tmp_path / "new.pt")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "no label file" in err and "no image with a label" in err
    assert not (tmp_path / "new.pt").exists()
