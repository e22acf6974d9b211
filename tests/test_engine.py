"""NucleusModel: one place picks the path, one set of decisions serves every path."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from _helpers import he_eosin_rich

from napari_unet_nuclei import (
    AmbiguousAxesError,
    NucleusModel,
    Segmentation,
    Settings,
    predict,
    segment_nuclei,
)
from napari_unet_nuclei._decisions import FINE_LABELS_ABOVE
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._scale import typical_diameter
from napari_unet_nuclei.training.metrics import match_counts


@pytest.fixture(scope="module")
def model(tiny_weights) -> NucleusModel:
    return NucleusModel(tiny_weights, device="cpu")


def test_segment_nuclei_takes_stacks_and_refuses_ambiguous_shapes(tiny_weights):
    planes = np.stack([synthetic_nuclei((96, 96), seed=s)[0] for s in range(5)])
    run = dict(device="cpu", weights=tiny_weights)
    labels = segment_nuclei(planes, **run)
    assert labels.shape == planes.shape and all(plane.any() for plane in labels)
    np.testing.assert_array_equal(labels, segment_nuclei(planes, axes="ZYX", **run))
    with pytest.raises(AmbiguousAxesError, match="axes"):
        segment_nuclei(planes[:3], **run)
    assert segment_nuclei(planes[:3], axes="ZYX", **run).shape == planes[:3].shape


def test_a_big_image_in_memory_goes_block_by_block_with_the_same_nuclei(model):
    image = synthetic_nuclei((400, 400), seed=9)[0]
    whole, _ = model.segment(image, diameter=16)
    blocked, _ = model.segment(image, diameter=16, big_image_pixels=50_000, block_size=128)
    assert blocked.max() > 50 and abs(int(blocked.max()) - int(whole.max())) <= 2
    assert np.mean((blocked > 0) == (whole > 0)) > 0.995


def test_decisions_are_made_once_and_applied_to_every_plane(model):
    image = synthetic_nuclei((128, 128), seed=3)[0]
    d, _ = model.decide(image, Settings())
    dim = (image // 4).astype(image.dtype)
    other = d.for_plane(dim)
    assert other.scale == d.scale and other.diameter == d.diameter
    assert other.normalization.invert == d.normalization.invert
    assert other.normalization.channel == d.normalization.channel == "grey"
    assert other.normalization.high < d.normalization.high  # each plane its own percentiles


def test_the_model_travels_to_cluster_workers_by_name(model):
    copy = pickle.loads(pickle.dumps(model))
    assert copy.weights == model.weights and copy.network is model.network  # the one cache
    assert str(copy.device) == "cpu"


def test_predict_reports_the_time_in_the_network(model):
    pred = model.predict(synthetic_nuclei((128, 128), seed=1)[0])
    assert 0 < pred.info["network_seconds"] <= pred.seconds


def test_seed_search_resolution_is_one_rule(model):
    """Half-resolution seeds wherever nuclei are known to be >= 12 px, in every path.

    The tiny model reads these large nuclei near its 16 px: "auto" keeps the image's scale
    and the size-estimating pass serves as the prediction.
    """
    image = synthetic_nuclei((512, 512), radius=(20.0, 30.0), seed=11)[0]
    for diameter, coarse in (("auto", True), (None, False), (8, False), (30, True)):
        d = model.decide(image, Settings(diameter=diameter))[0]
        pred = model.predict(image, diameter=diameter)
        assert (pred.peak_step == 2) == coarse
        assert (d.diameter is not None and d.diameter >= 12) == coarse


ALL_SETTINGS = dict(
    threshold=0.4,
    split=False,
    min_size=30,
    diameter=18.0,
    invert=False,
    stain="grey",
    tta=True,
    tile_size=96,
    halo=32,
    batch_size=2,
    precision="fp32",
    block_size=128,
    block_threads=1,
    big_image_pixels=10_000,
)


def test_every_path_takes_every_setting(model, tiny_weights):
    """``NucleusModel.segment`` and ``segment_nuclei``, in one piece or by blocks, share them."""
    assert set(ALL_SETTINGS) == set(Settings().as_dict())
    # nuclei the tiny model reads near its 16 px: "auto" keeps the scale, 39 runs stay quick
    image = synthetic_nuclei((192, 192), radius=(20.0, 30.0), seed=2)[0]
    run = dict(device="cpu", weights=tiny_weights)
    for name, value in ALL_SETTINGS.items():
        via_blocks = segment_nuclei(image, **run, **{"big_image_pixels": 1, name: value})
        via_model = model.segment(image, **{name: value}).labels
        via_api = segment_nuclei(image, **run, **{name: value})
        assert via_blocks.max() > 0 and via_model.max() > 0 and via_api.max() > 0, name
        assert np.array_equal(via_model, via_api), name
    with pytest.raises(TypeError, match="tile'"):
        segment_nuclei(image, tile=512, big_image_pixels=1, **run)
    with pytest.raises(ValueError, match="threshold"):
        model.segment(image, threshold=2)


@pytest.mark.parametrize("value", [0, 7, 65535])
def test_constant_image_has_no_nuclei(tiny_weights, value):
    image = np.full((40, 50), value, np.uint16)
    assert predict(image, device="cpu", weights=tiny_weights).labels().max() == 0


def test_a_finetune_result_gives_its_model(tiny_weights):
    from napari_unet_nuclei import FinetuneResult

    kept = FinetuneResult(None, 0.8, 0.8, 40, 1.0, 1, 10)
    assert kept.model() is None
    made = FinetuneResult(tiny_weights, 0.5, 0.7, 40, 1.0, 1, 10)
    model = made.model("cpu")
    assert isinstance(model, NucleusModel) and str(model.device) == "cpu"


def test_a_bad_setting_fails_before_the_weights_are_read(tmp_path):
    missing = str(tmp_path / "no_such_weights.pt")
    image = np.zeros((32, 32), np.uint16)
    for call in (segment_nuclei, predict):
        with pytest.raises(TypeError, match="tile'"):
            call(image, weights=missing, tile=512)
    with pytest.raises(FileNotFoundError):
        segment_nuclei(image, weights=missing)


@pytest.mark.slow
def test_tiny_nuclei_are_labelled_on_the_network_grid():
    """Nuclei of ~6 px, enlarged ~2.8x for the network: labelled on the image's own grid,
    AP@0.5 was 0.48 (touching nuclei shared a seed, many fell under the minimum size)."""
    image, truth = synthetic_nuclei((192, 192), radius=(2.5, 3.5), touching=0.3, seed=1)
    pred = predict(image, device="cpu", diameter="auto")
    assert pred.info["scale"] > FINE_LABELS_ABOVE
    labels = pred.labels()
    assert labels.shape == image.shape
    c = match_counts(truth, labels, (0.5,))[0]
    assert c.tp / (c.tp + c.fp + c.fn) >= 0.7
    assert pred.diameter == pytest.approx(typical_diameter(truth), rel=0.2)  # image px


def test_segment_returns_the_labels_and_the_decisions_it_made(model):
    image = synthetic_nuclei((128, 128), seed=4)[0]
    segmentation = model.segment(image, diameter=16)
    labels, decisions = segmentation  # unpacks as (labels, decisions)
    assert isinstance(segmentation, Segmentation) and segmentation.path == "plane"
    assert decisions.diameter == 16 and decisions.scale == model.diameter / 16
    assert np.array_equal(labels, segmentation.prediction.labels())  # maps kept: re-label
    assert segmentation.diameter == segmentation.prediction.diameter
    stack = model.segment(np.stack([image, image]), axes="ZYX", diameter=16)
    assert stack.path == "stack" and stack.prediction is None and stack.diameter is None
    blocks = model.segment(image, diameter=16, big_image_pixels=1, block_size=64)
    assert blocks.path == "blocks" and blocks.prediction is None
    assert blocks.decisions == decisions  # the same image: the same decisions, any path


def test_segment_writes_into_out_on_every_path(model):
    image = synthetic_nuclei((128, 128), seed=4)[0]
    for extra in ({}, {"big_image_pixels": 1, "block_size": 64}):
        out = np.zeros(image.shape, np.uint32)
        segmentation = model.segment(image, out=out, diameter=16, **extra)
        assert segmentation.labels is out and out.max() > 0
        assert np.array_equal(out, model.segment(image, diameter=16, **extra).labels)


def test_a_lazy_array_without_transpose_is_read_in_blocks(model, tmp_path):
    zarr = pytest.importorskip("zarr")
    image = synthetic_nuclei((128, 128), seed=4)[0]
    z = zarr.open_array(str(tmp_path / "i.zarr"), mode="w", shape=image.shape, chunks=(64, 64),
                        dtype=image.dtype)  # fmt: skip
    z[:] = image
    assert not hasattr(z, "transpose")  # zarr arrays: read whole by np.asarray
    via_zarr = model.segment(z, diameter=16, big_image_pixels=1, block_size=64).labels
    assert np.array_equal(via_zarr, model.segment(image, diameter=16, big_image_pixels=1,
                                                  block_size=64).labels)  # fmt: skip


def test_a_network_in_memory_gives_the_labels_of_its_file(model, tiny_weights):
    from napari_unet_nuclei._model import load_model

    image = synthetic_nuclei((128, 128), seed=5)[0]
    network = load_model(tiny_weights)
    in_memory = NucleusModel.from_network(network, "cpu")
    assert in_memory.diameter == model.diameter
    assert np.array_equal(in_memory.segment(image).labels, model.segment(image).labels)
    batch_norm = [m for m in network.modules() if type(m).__name__ == "BatchNorm2d"]
    assert batch_norm  # folded in a copy only: the network being trained keeps its layers
    with pytest.raises(TypeError, match="workers"):
        pickle.dumps(in_memory)


def test_an_eosin_rich_image_is_read_as_its_haematoxylin_on_every_path(model):
    rich = he_eosin_rich(seed=4)[0]
    labels, decisions = model.segment(rich, diameter=16)
    assert decisions.normalization.channel == "haematoxylin"
    assert model.predict(rich, diameter=16).info["channel"] == "haematoxylin"
    blocked, d2 = model.segment(rich, diameter=16, big_image_pixels=10_000, block_size=128)
    assert d2.normalization == decisions.normalization
    assert np.mean((blocked > 0) == (labels > 0)) > 0.995
    stack, d3 = model.segment(np.stack([rich, rich]), axes="ZYXC", diameter=16)
    assert d3.normalization.channel == "haematoxylin"
    assert np.array_equal(stack[1] > 0, labels > 0)  # ids go on from plane to plane
    grey, d4 = model.segment(rich, diameter=16, stain="grey")
    assert d4.normalization.channel == "grey" and not np.array_equal(grey, labels)
    with pytest.raises(ValueError, match="stain must be one of"):
        model.segment(rich, stain="eosin")
