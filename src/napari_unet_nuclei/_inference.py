"""Image -> float32 probability maps: normalise, pad, tile with a halo, stitch.

No labels here (see ``_postprocess``). Tiles overlap by ``halo`` pixels on every side
and only their inner block is written back, so results barely depend on the tile size.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch

from ._device import resolve_device
from ._model import UNet, fused_for_inference, load_model, weights_file
from ._scale import resize, scaled_shape
from ._settings import (
    DEFAULT_BATCH,
    DEFAULT_HALO,
    DEFAULT_TILE,
    IMAGE_BORDER,
    THIN_BORDER_FROM,
    ProgressCallback,
)
from ._tiling import round_up, tile_grid


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def image_border(shape: tuple[int, int], halo: int) -> int:
    """Mirrored pixels past the edge: IMAGE_BORDER on a large image, the halo on a small one."""
    return min(halo, IMAGE_BORDER) if min(shape) >= THIN_BORDER_FROM else halo


Window = tuple[tuple[slice, slice], tuple[int, int, int, int], tuple[int, int]]


def tile_windows(
    shape: tuple[int, int], tile: int, stride: int, halo: int, border: int, batch_size: int = 1
) -> list[list[Window]]:
    """Batches of (window in the padded image, its tile, the tile's offset in the window).

    A window reaches ``halo`` past its tile into its neighbours and ``border`` past the
    image's edge (the mirrored padding), so an image in one tile is computed at its own size
    plus two borders. Windows of a batch have one shape.
    """
    by_shape: dict[tuple[int, int], list[Window]] = {}
    for y, x, th, tw in tile_grid(shape, tile, stride):
        (y0, y1), (x0, x1) = (
            (max(a - halo, -border) + border, min(a + n + halo, size + border) + border)
            for a, n, size in ((y, th, shape[0]), (x, tw, shape[1]))
        )
        window = (slice(y0, y1), slice(x0, x1))
        by_shape.setdefault((y1 - y0, x1 - x0), []).append(
            (window, (y, x, th, tw), (y + border - y0, x + border - x0))
        )
    return [b for group in by_shape.values() for b in _batches(group, max(1, batch_size))]


FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))


_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}
_DEVICE_LOCKS: dict[str, threading.Lock] = {}  # one per accelerator, made once
_LOCKS_LOCK = threading.Lock()


def device_lock(device: torch.device) -> contextlib.AbstractContextManager:
    """Held while a batch runs on ``device``: one batch at a time on an accelerator.

    Threads segmenting images side by side (``batch.folder``) then share a GPU without holding
    several images' activations at once, while their CPU steps run on the other cores.
    On the CPU no lock: each thread's torch runs on its own share of the cores.
    """
    if device.type == "cpu":
        return contextlib.nullcontext()
    with _LOCKS_LOCK:
        return _DEVICE_LOCKS.setdefault(str(device), threading.Lock())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision setting on ``device`` (None: fp32)."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    return _AUTOCAST.get(precision)


def _run(model: UNet, x: torch.Tensor, device: torch.device, precision: str) -> torch.Tensor:
    """Logits of one batch, under autocast when ``precision`` asks for it on this device.

    Batches are copied from ordinary memory: pinning every new batch first costs a page-locked
    allocation per batch for a copy that is a small share of the time.
    """
    dtype = autocast_dtype(precision, device)
    kind = "cuda" if device.type == "cuda" else "cpu"
    cast = torch.autocast(kind, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with cast:
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        return model(x).float()


def _forward(
    model: UNet, x: torch.Tensor, device: torch.device, tta: bool, precision: str
) -> torch.Tensor:
    """Sigmoid maps of one batch (on ``device``); with ``tta`` the mean over the four flips."""
    if not tta:
        return torch.sigmoid(_run(model, x, device, precision))
    total = sum(
        torch.sigmoid(_run(model, x.flip(f), device, precision)).flip(f)
        if f
        else torch.sigmoid(_run(model, x, device, precision))
        for f in FLIPS
    )
    return total / len(FLIPS)


def keeps_maps(device: torch.device) -> bool:
    """Whether maps made on ``device`` stay there to be labelled (``labels_on_device``).

    On a CUDA GPU, yes: post-processing there is many times faster than on the host.
    On the CPU, no: scipy and skimage label numpy maps faster than the torch code does.
    Elsewhere (Apple's MPS) not until the torch code is tested there: the host labels.
    """
    return device.type == "cuda"


def predict_normalized(
    norm: np.ndarray,
    model: UNet,
    device: torch.device,
    tile: int = DEFAULT_TILE,
    halo: int = DEFAULT_HALO,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressCallback | None = None,
    tta: bool = False,
    precision: str = "auto",
    keep: bool = False,
    border: int | None = None,
) -> np.ndarray | torch.Tensor:
    """Run the network over a normalised 2D image; returns (2, H, W) probabilities.

    ``progress(done, total)`` is called after every batch of tiles; an exception raised
    from it (e.g. a cancellation) stops the run. With ``keep`` the maps are a tensor left
    on ``device``; else a numpy array. ``border``: mirrored pixels past the edge, as the
    whole image's decisions gave it (a block of a big image gets its image's); by default
    ``image_border`` of this image.
    """
    stride = model.config.stride
    tile, halo = round_up(max(tile, stride), stride), round_up(halo, stride)
    h, w = norm.shape
    border = image_border((h, w), halo) if border is None else border
    border = min(round_up(border, stride), halo)
    hp, wp = round_up(h, stride), round_up(w, stride)
    padded = np.pad(norm, ((border, hp - h + border), (border, wp - w + border)), mode="symmetric")
    channels = model.config.out_channels
    if keep:
        out = torch.zeros((channels, hp, wp), dtype=torch.float32, device=device)
    else:
        out = np.zeros((channels, hp, wp), np.float32)
    windows = tile_windows((hp, wp), tile, stride, halo, border, batch_size)
    done, total = 0, sum(map(len, windows))
    with torch.inference_mode():
        for batch in windows:
            x = np.stack([padded[window] for window, _, _ in batch])[:, None]
            with device_lock(device):
                pred = _forward(model, torch.from_numpy(x), device, tta, precision)
                pred = pred if keep else pred.cpu().numpy()
            for (_, (y, x, th, tw), (oy, ox)), p in zip(batch, pred, strict=True):
                out[:, y : y + th, x : x + tw] = p[:, oy : oy + th, ox : ox + tw]
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return out[:, :h, :w]


def model_on(
    device: str | torch.device | None = "auto", weights: str | None = None
) -> tuple[UNet, torch.device]:
    """The ready model (batch-norm folded, channels-last) on the resolved device."""
    dev = resolve_device(device)
    file = weights_file(weights).resolve()
    stamp = file.stat().st_mtime_ns if file.is_file() else 0  # a replaced file is re-read
    return _ready_model(str(file), stamp, weights, str(dev)), dev


# The one model cache: the last few (file, its mtime, device) used, most recent last. A
# session that fine-tunes and reloads makes a new entry each time: the oldest are dropped.
MAX_READY = 3
_READY: OrderedDict[tuple[str, int, str], UNet] = OrderedDict()
_READY_LOCK = threading.Lock()


def _ready_model(file: str, stamp: int, weights: str | None, device: str) -> UNet:
    key = (file, stamp, device)
    with _READY_LOCK:
        if key in _READY:
            _READY.move_to_end(key)
            return _READY[key]
    fused = fused_for_inference(load_model(weights))
    model = fused.to(device=device, memory_format=torch.channels_last)
    with _READY_LOCK:
        model = _READY.setdefault(key, model)  # another thread may have loaded it meanwhile
        _READY.move_to_end(key)
        replaced = [k for k in _READY if k[0] == file and k[2] == device and k[1] != stamp]
        dropped = [_READY.pop(k) for k in replaced]  # an older version of this file
        while len(_READY) > MAX_READY:
            dropped.append(_READY.popitem(last=False)[1])
    _release(dropped)
    return model


def _release(models: list[UNet]) -> None:
    """Let go of dropped models and hand their accelerator memory back to the device."""
    on_cuda = any(p.is_cuda for m in models for p in m.parameters())
    models.clear()
    if on_cuda:
        torch.cuda.empty_cache()


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
    precision: str = "auto",
    on_network_grid: bool = False,
    keep: bool = False,
    border: int | None = None,
) -> np.ndarray | torch.Tensor:
    """Maps of a normalised image run at ``scale`` x its size, on the image's grid.

    With ``on_network_grid``, the maps stay on the grid the network saw; with ``keep``, on
    ``device`` (a tensor; ``keeps_maps`` says when).
    """
    run = (model, device, tile, halo, batch_size, progress, tta, precision, keep, border)
    if abs(scale - 1.0) < 1e-3:
        return predict_normalized(norm, *run)
    small = resize(norm, scaled_shape(norm.shape, scale))
    maps = predict_normalized(small, *run)
    return maps if on_network_grid else resize(maps, norm.shape)
