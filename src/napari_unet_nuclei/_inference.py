"""Image -> float32 probability maps: normalise, pad, tile with a halo, stitch.

No labels here (see ``_postprocess``). Tiles overlap by ``halo`` pixels on every side
and only their inner block is written back, so results barely depend on the tile size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from ._device import resolve_device
from ._model import UNet, fused_for_inference, load_model
from ._scale import resize, scaled_shape

ProgressCallback = Callable[[int, int], None]
DEFAULT_TILE = 1024
DEFAULT_HALO = 64
# Tiles per network call. One was faster than 4 both on the 2-core CPU (2048²: 1.15 against
# 1.6 s) and on an H200 (4096²: 118 against 74 MP/s in fp16), and needs less memory.
DEFAULT_BATCH = 1


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def _starts(length: int, tile: int) -> list[int]:
    """Tile origins covering ``length``; the last tile is shifted back to end at ``length``."""
    starts = list(range(0, length - tile + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _even_tile(length: int, tile: int, stride: int) -> int:
    """The smallest stride multiple <= ``tile`` that covers ``length`` in as few tiles."""
    n = -(-length // tile)
    return min(tile, _round_up(-(-length // n), stride))


def tile_grid(
    shape: tuple[int, int], tile: int, stride: int = 1
) -> list[tuple[int, int, int, int]]:
    """(y, x, th, tw) of each tile over a padded (stride-multiple) image shape.

    Tiles are made as even as the stride allows, so that little is computed twice.
    """
    th, tw = (_even_tile(n, min(tile, n), stride) for n in shape)
    return [(y, x, th, tw) for y in _starts(shape[0], th) for x in _starts(shape[1], tw)]


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))


# bf16 halves the CPU network time where the CPU has it, but moved val fluorescence
# AP@0.5 from 0.850 to 0.847 (base-16 model); it stays off until a model is trained to keep
# its figures, and most laptop CPUs lack bf16 arithmetic anyway.
CPU_BF16 = False
# fp16 autocast on CUDA (bench/bench_gpu.py compares it with fp32 on val).
CUDA_FP16 = True


def _run(model: UNet, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Logits of one batch: fp16 on CUDA; bf16 on the CPU only if CPU_BF16.

    Batches are copied from ordinary memory: pinning every new batch first costs a page-locked
    allocation per batch for a copy that is a small share of the time.
    """
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.float16, enabled=CUDA_FP16):
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            return model(x).float()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=device.type == "cpu" and CPU_BF16):
        return model(x.to(device).contiguous(memory_format=torch.channels_last)).float()


def _forward(model: UNet, x: torch.Tensor, device: torch.device, tta: bool = False) -> np.ndarray:
    """Sigmoid maps of one batch; with ``tta`` the mean over the four flips."""
    if not tta:
        return torch.sigmoid(_run(model, x, device)).cpu().numpy()
    total = sum(
        torch.sigmoid(_run(model, x.flip(f), device)).flip(f)
        if f
        else torch.sigmoid(_run(model, x, device))
        for f in FLIPS
    )
    return (total / len(FLIPS)).cpu().numpy()


def predict_normalized(
    norm: np.ndarray,
    model: UNet,
    device: torch.device,
    tile: int = DEFAULT_TILE,
    halo: int = DEFAULT_HALO,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressCallback | None = None,
    tta: bool = False,
) -> np.ndarray:
    """Run the network over a normalised 2D image; returns (2, H, W) probabilities.

    ``progress(done, total)`` is called after every batch of tiles; an exception raised
    from it (e.g. a cancellation) stops the run.
    """
    stride = model.config.stride
    tile, halo = _round_up(max(tile, stride), stride), _round_up(halo, stride)
    h, w = norm.shape
    hp, wp = _round_up(h, stride), _round_up(w, stride)
    padded = np.pad(norm, ((halo, hp - h + halo), (halo, wp - w + halo)), mode="symmetric")
    out = np.zeros((model.config.out_channels, hp, wp), np.float32)
    grid = tile_grid((hp, wp), tile, stride)
    done = 0
    with torch.inference_mode():
        for batch in _batches(grid, max(1, batch_size)):
            x = np.stack(
                [padded[y : y + th + 2 * halo, x : x + tw + 2 * halo] for y, x, th, tw in batch]
            )[:, None]
            pred = _forward(model, torch.from_numpy(x), device, tta)
            for (y, x, th, tw), p in zip(batch, pred, strict=True):
                out[:, y : y + th, x : x + tw] = p[:, halo : halo + th, halo : halo + tw]
            done += len(batch)
            if progress is not None:
                progress(done, len(grid))
    return out[:, :h, :w]


def model_on(
    device: str | torch.device | None = "auto", weights: str | None = None
) -> tuple[UNet, torch.device]:
    """The (cached) model moved to the resolved device."""
    dev = resolve_device(device)
    return _model_on(weights, str(dev)), dev


_MODELS: dict[tuple[str | None, str], UNet] = {}


def _model_on(weights: str | None, device: str) -> UNet:
    """Batch-norm folded, channels-last copy of the weights on ``device`` (cached)."""
    key = (weights, device)
    if key not in _MODELS:
        fused = fused_for_inference(load_model(weights))
        _MODELS[key] = fused.to(device=device, memory_format=torch.channels_last)
    return _MODELS[key]


def predict_maps(
    norm: np.ndarray,
    model: UNet,
    device: torch.device,
    scale: float = 1.0,
    tile: int = DEFAULT_TILE,
    halo: int = DEFAULT_HALO,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressCallback | None = None,
    tta: bool = False,
) -> np.ndarray:
    """Maps of a normalised image run at ``scale`` x its size, returned on its own grid."""
    if abs(scale - 1.0) < 1e-3:
        return predict_normalized(norm, model, device, tile, halo, batch_size, progress, tta)
    small = resize(norm, scaled_shape(norm.shape, scale))
    maps = predict_normalized(small, model, device, tile, halo, batch_size, progress, tta)
    return resize(maps, norm.shape)
