"""The CUDA path (fp16 autocast, pinned copies, batched tiles) against the CPU.

Skipped where torch sees no CUDA GPU, as in CI; run on a GPU machine with
``python -m pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unet_nuclei import predict, segment_nuclei
from napari_unet_nuclei._postprocess import to_host
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.training.metrics import match_counts

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.slow,  # the real network, whose labels must hold nuclei
]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_nuclei((768, 640), seed=3)[0]


def _maps(image: np.ndarray, **options) -> np.ndarray:
    pred = predict(image, diameter=None, **options)
    return np.stack([to_host(pred.foreground), to_host(pred.distance)])  # on the GPU: tensors


def test_maps_stay_on_the_gpu_until_the_labels_leave(image):
    pred = predict(image, device="cuda")
    assert pred.on_device and pred.foreground.is_cuda
    host = _maps(image, device="cpu")
    assert np.abs(to_host(pred.foreground) - host[0]).max() < 0.1  # fp16 on the GPU
    assert isinstance(pred.labels(), np.ndarray)


def test_cuda_labels_match_the_cpu_labels(image):
    cpu = segment_nuclei(image, device="cpu")
    gpu = segment_nuclei(image, device="cuda")
    assert gpu.shape == cpu.shape and gpu.max() > 50
    assert match_counts(cpu, gpu, (0.5,))[0].ap >= 0.98


def test_fp16_maps_stay_close_to_fp32(image):
    half = _maps(image, device="cuda")
    full = _maps(image, device="cuda", precision="fp32")
    cpu = _maps(image, device="cpu")
    assert np.abs(full - cpu).max() < 1e-3
    assert np.abs(half - full).mean() < 2e-3 and np.abs(half - full).max() < 0.1


def test_batched_tiles_equal_single_tiles(image):
    one = _maps(image, device="cuda", tile_size=256, batch_size=1)
    many = _maps(image, device="cuda", tile_size=256, batch_size=16)
    assert np.abs(one - many).max() < 1e-2


def test_cuda_memory_is_released_between_runs(image):
    segment_nuclei(image, device="cuda")
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    for _ in range(3):
        segment_nuclei(image, device="cuda")
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() <= before + 1_000_000
