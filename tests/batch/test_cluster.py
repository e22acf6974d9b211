"""dask.distributed: a light LocalCluster gives the labels of the single-process run."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_unet_nuclei import NucleusModel, Settings, segment_nuclei
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.batch.cluster import (
    PathSource,
    cluster_client,
    label_blocks_distributed,
    segment_blocks_distributed,
    segment_files,
)

RUN = dict(block_size=128, margin=32)


@pytest.fixture(scope="module")
def model(tiny_weights) -> NucleusModel:
    return NucleusModel(tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def client():
    with cluster_client(n_workers=1, threads_per_worker=1, processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_nuclei((256, 256), seed=21)[0]


@pytest.fixture(scope="module")
def expected(image, model):
    s = Settings(block_size=128)
    decisions = model.decide(image, s)[0]
    labels, count = model.label_blocks(image, None, None, 32, s, decisions)
    assert count > 20
    return decisions, labels


def test_blocks_on_the_cluster_match_one_process(client, image, expected, model):
    decisions, labels = expected
    done = []
    out, count = label_blocks_distributed(
        client,
        image,
        model=model,
        decisions=decisions,
        window=2,
        progress=lambda d, t: done.append(d),
        **RUN,
    )
    np.testing.assert_array_equal(out, labels)
    assert count == int(labels.max()) and done == [1, 2, 3, 4]


def test_dask_and_path_sources_on_the_cluster(client, image, expected, model, tmp_path):
    decisions, labels = expected
    lazy = segment_blocks_distributed(
        client, da.from_array(image, chunks=100), model=model, decisions=decisions, **RUN
    )
    np.testing.assert_array_equal(lazy, labels)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, image, tile=(64, 64))
    from_file = segment_blocks_distributed(client, PathSource(str(path)), model=model, **RUN)
    np.testing.assert_array_equal(from_file, labels)


def test_a_folder_one_task_per_image(client, tmp_path, tiny_weights):
    folder = tmp_path / "images"
    folder.mkdir()
    images = {f"img{i}": synthetic_nuclei((96, 96), seed=i)[0] for i in range(3)}
    for name, img in images.items():
        tifffile.imwrite(folder / f"{name}.tif", img)
    done = []
    results = segment_files(
        client,
        [folder, tmp_path / "missing"],
        tmp_path / "out",
        progress=lambda d, t: done.append(t),
        device="cpu",
        weights=tiny_weights,
        min_size=12,
    )
    assert [r.error is None for r in results] == [True, True, True, False]
    assert done == [3, 3, 3]
    for r in results[:3]:
        name = r.path.split("/")[-1][:-4]
        want = segment_nuclei(images[name], device="cpu", weights=tiny_weights, min_size=12)
        np.testing.assert_array_equal(tifffile.imread(r.output), want)
        assert r.count == int(want.max()) > 0


def test_files_on_the_cluster_never_lose_an_output(client, tmp_path, tiny_weights):
    """Issue 10: same-named inputs get distinct outputs; an output over an input is refused."""
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "x.tif", synthetic_nuclei((64, 64), seed=1)[0])
    run = dict(device="cpu", weights=tiny_weights)
    results = segment_files(client, [tmp_path / "d1", tmp_path / "d2"], tmp_path / "out", **run)
    assert sorted(r.output.split("/")[-1] for r in results) == ["d1_x.tif", "d2_x.tif"]
    from napari_unet_nuclei._outputs import UnsafeOutputError

    before = (tmp_path / "d1" / "x.tif").read_bytes()
    with pytest.raises(UnsafeOutputError, match="would replace the input"):
        segment_files(client, [tmp_path / "d1"], tmp_path / "d1", **run)
    assert (tmp_path / "d1" / "x.tif").read_bytes() == before
