"""The public API: a few names, ``weights, device`` by name everywhere, old names still work.

The names of the previous release (``segment_stack``, ``segment_blocks``, positional
``device, weights``, the modules ``train``, ``evaluate``, ``cluster``) keep working for one
release with a DeprecationWarning.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import napari_unet_nuclei as nun
from napari_unet_nuclei._sample_data import synthetic_nuclei

PUBLIC = {
    "AmbiguousAxesError",
    "Decisions",
    "NucleusModel",
    "Prediction",
    "Segmentation",
    "Settings",
    "__version__",
    "available_devices",
    "export_bioimageio",
    "finetune",
    "predict",
    "save_labels",
    "track_nuclei",
    "segment_large",
    "segment_nuclei",
}


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_nuclei((96, 96), seed=2)[0]


def test_the_public_names_are_few_and_all_there():
    assert set(nun.__all__) == PUBLIC
    assert all(hasattr(nun, name) for name in PUBLIC)


def test_weights_then_device_and_the_options_in_the_signatures():
    assert list(inspect.signature(nun.NucleusModel).parameters)[:2] == ["weights", "device"]
    for call in (nun.predict, nun.segment_nuclei, nun.NucleusModel.segment):
        params = inspect.signature(call).parameters
        named = [p for p in params.values() if p.kind is p.KEYWORD_ONLY]
        names = [p.name for p in named]
        if call is not nun.NucleusModel.segment:
            assert names[:2] == ["weights", "device"], call
        if call is not nun.predict:
            assert {"axes", "channel", "link_z", "out", "progress"} <= set(names), call


def test_positional_device_and_weights_still_work_with_a_warning(image, tiny_weights):
    new = nun.predict(image, weights=tiny_weights, device="cpu", diameter=None)
    with pytest.warns(DeprecationWarning, match="by position"):
        old = nun.predict(image, "cpu", tiny_weights, None)
    np.testing.assert_array_equal(old.labels(), new.labels())
    labels = nun.segment_nuclei(image, weights=tiny_weights, device="cpu", threshold=0.4)
    with pytest.warns(DeprecationWarning, match="threshold, split, min_size, device, weights"):
        old = nun.segment_nuclei(image, 0.4, True, None, "cpu", tiny_weights)
    np.testing.assert_array_equal(old, labels)
    with pytest.raises(TypeError, match="by name"):
        nun.segment_nuclei(image, *range(7))


def test_segment_stack_and_segment_blocks_warn_and_give_segment_nuclei_labels(image, tiny_weights):
    run = dict(device="cpu", weights=tiny_weights, diameter=16)
    stack = np.stack([image, image[::-1]])
    with pytest.warns(DeprecationWarning, match="segment_stack"):
        old = nun.segment_stack(stack, "ZYX", **run)
    np.testing.assert_array_equal(old, nun.segment_nuclei(stack, axes="ZYX", **run))
    with pytest.warns(DeprecationWarning, match="segment_blocks"):
        old = nun.segment_blocks(image, block_size=64, **run)
    blocks = nun.segment_nuclei(image, big_image_pixels=1, block_size=64, **run)
    np.testing.assert_array_equal(old, blocks)


@pytest.mark.parametrize(
    "name, module",
    [
        ("train", "napari_unet_nuclei.training.train"),
        ("evaluate", "napari_unet_nuclei.training.evaluate"),
        ("cluster", "napari_unet_nuclei.batch.cluster"),
    ],
)
def test_old_module_names_point_at_the_new_modules(name, module):
    with pytest.warns(DeprecationWarning, match=f"napari_unet_nuclei.{name} is deprecated"):
        found = getattr(nun, name)
    assert found.__name__ == module
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        nun.nothing  # noqa: B018


def test_save_labels_is_public(tmp_path, image, tiny_weights):
    labels = nun.segment_nuclei(image, weights=tiny_weights, device="cpu")
    written = nun.save_labels(tmp_path / "labels.tif", labels, image)
    assert [p.name for p in written] == ["labels.tif", "labels_measurements.csv"]
