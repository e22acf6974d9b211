"""Every front gets its labels from ``NucleusModel.segment``: no front picks a path itself.

``routes`` (tests/conftest.py) wraps ``segment`` in a spy and makes the lower routes
(``NucleusModel.predict``, ``label_blocks``, ``label_region``, ``labels_from_maps``) raise
when called outside it; each front then runs with the tiny model and must hand back the
spy's labels. The widget's run: tests/_qt/test_run.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet_nuclei import NucleusModel, Settings
from napari_unet_nuclei._sample_data import synthetic_nuclei


@pytest.fixture
def image_file(tmp_path):
    image = synthetic_nuclei((128, 128), seed=3)[0]
    tifffile.imwrite(tmp_path / "cells.tif", image)
    return tmp_path / "cells.tif"


def test_the_guard_catches_a_front_that_labels_maps_itself(routes, tiny_weights):
    model = NucleusModel(tiny_weights, "cpu")
    image = synthetic_nuclei((96, 96), seed=1)[0]
    with pytest.raises(AssertionError, match="outside"):
        model.predict(image)
    labels = model.segment(image).labels  # the same calls, inside segment: allowed
    assert routes.labels and routes.labels[-1] is not None and labels.max() > 0


def test_the_command_line_segment(routes, tiny_weights, image_file, tmp_path):
    from napari_unet_nuclei.cli.app import main

    out = tmp_path / "labels"
    args = [str(image_file), "-o", str(out), "--weights", tiny_weights, "--device", "cpu"]
    assert main(["segment", *args, "--parallel-files", "0"]) == 0
    assert len(routes.labels) == 1
    np.testing.assert_array_equal(tifffile.imread(out / "cells.tif"), routes.labels[0])


def test_the_folder_pipeline_in_threads(routes, tiny_weights, tmp_path):
    from napari_unet_nuclei._settings import Settings
    from napari_unet_nuclei.batch.file_job import FileOptions
    from napari_unet_nuclei.batch.folder import run_batch

    jobs = []
    for seed in range(3):
        tifffile.imwrite(tmp_path / f"in{seed}.tif", synthetic_nuclei((96, 96), seed=seed)[0])
        jobs.append((tmp_path / f"in{seed}.tif", tmp_path / f"out{seed}.tif"))
    done = []
    run_batch(jobs, FileOptions("cpu", tiny_weights, Settings()), done.append, parallel_files=2)
    assert [o.error for o in done] == [None] * 3 and len(routes.labels) == 3
    written = [tifffile.imread(target) for _, target in jobs]
    for labels in written:  # threads finish in any order: each file is one of segment's
        assert any(np.array_equal(labels, seen) for seen in routes.labels)


def test_the_cluster_file_task(routes, tiny_weights, image_file, tmp_path):
    from napari_unet_nuclei.batch.cluster import segment_file

    result = segment_file(str(image_file), str(tmp_path / "out.tif"),
                          {"weights": tiny_weights, "device": "cpu"})  # fmt: skip
    assert result.error is None and len(routes.labels) == 1
    np.testing.assert_array_equal(tifffile.imread(result.output), routes.labels[0])


def test_a_stack_file_goes_through_segment_too(routes, tiny_weights, tmp_path):
    from napari_unet_nuclei.batch.cluster import segment_file

    stack = np.stack([synthetic_nuclei((96, 96), seed=s)[0] for s in range(3)])
    tifffile.imwrite(tmp_path / "z.tif", stack, photometric="minisblack", metadata={"axes": "ZYX"})
    result = segment_file(str(tmp_path / "z.tif"), str(tmp_path / "out.tif"),
                          {"weights": tiny_weights, "device": "cpu"})  # fmt: skip
    assert result.error is None and routes.labels[0].shape == stack.shape
    np.testing.assert_array_equal(tifffile.imread(result.output), routes.labels[0])


def test_evaluate(routes, tiny_weights, tmp_path):
    import imageio.v3 as iio

    from napari_unet_nuclei.training.evaluate import evaluate

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    rows = ["id\tsize\tnuclei\tkind\tsplit"]
    for i in range(2):
        image, truth = synthetic_nuclei((96, 96), seed=i)
        iio.imwrite(tmp_path / "images" / f"im{i}.png", (image // 256).astype(np.uint8))
        tifffile.imwrite(tmp_path / "labels" / f"im{i}.tif", truth)
        rows.append(f"im{i}\t96x96\t{int(truth.max())}\tfluorescence\tval")
    (tmp_path / "index.tsv").write_text("\n".join(rows) + "\n")
    scores = evaluate(tmp_path, "val", weights=tiny_weights, device="cpu")
    assert scores["all"]["images"] == 2 and len(routes.labels) == 2


def test_finetune_scoring(routes, tiny_weights):

    from napari_unet_nuclei._model import load_model
    from napari_unet_nuclei.training.finetune_holdout import engine_for, score

    image, truth = synthetic_nuclei((96, 96), seed=2)
    candidate = engine_for(load_model(tiny_weights), tiny_weights, "cpu")  # weights in training
    ap = score(candidate, [(image, truth)], Settings.of(diameter=16.0))
    assert 0 <= ap <= 1 and len(routes.labels) == 1


def test_the_guard_also_holds_for_maps_kept_on_a_device(routes, tiny_weights, monkeypatch):
    from napari_unet_nuclei import _engine

    monkeypatch.setattr(_engine, "keeps_maps", lambda device: True)
    model = NucleusModel(tiny_weights, "cpu")
    seg = model.segment(synthetic_nuclei((96, 96), seed=1)[0])
    assert seg.prediction.on_device and seg.labels.max() > 0
    with pytest.raises(AssertionError, match="outside"):
        seg.prediction.labels(0.4)  # device labels go through the guarded labels_from_maps
