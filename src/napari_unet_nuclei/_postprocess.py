"""Probability maps + threshold -> instance labels. Pure: maps in, labels out.

numpy maps are post-processed with scipy/skimage; maps left on an accelerator as torch
tensors with the same rules in torch (``labels_on_device``), so they never leave it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

DEFAULT_THRESHOLD = 0.5
DEFAULT_SEED_H = 0.1  # how much a distance peak must rise above its saddle to seed a nucleus
DEFAULT_SEED_SIGMA = 1.0  # smoothing of the distance map before looking for peaks
SEED_FLOOR = 0.3  # peaks lower than this are noise, not nucleus centres
DEFAULT_MIN_SIZE = 20  # pixels; chosen on a train subset (larger drops debris, keeps nuclei)


def label_dtype(n_labels: int) -> type:
    """uint16 while the ids fit, else uint32."""
    return np.uint16 if n_labels <= np.iinfo(np.uint16).max else np.uint32


def relabel_sequential(labels: np.ndarray, min_size: int = 0) -> np.ndarray:
    """Drop objects smaller than ``min_size`` pixels; ids become 1..N in a compact dtype."""
    counts = np.bincount(labels.ravel())
    keep = counts >= max(min_size, 1)
    keep[0] = False
    lut = np.zeros(counts.size, np.int64)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    return lut[labels].astype(label_dtype(int(keep.sum())))


def seed_peaks(
    distance: np.ndarray,
    h: float = DEFAULT_SEED_H,
    sigma: float = DEFAULT_SEED_SIGMA,
    step: int = 1,
) -> np.ndarray:
    """Nucleus cores: regional maxima of the (smoothed) distance map at least ``h`` high.

    Depends only on the distance map, so it can be computed once per prediction.
    ``step`` > 1 looks for the maxima on every step-th pixel (step² times faster); only for
    nuclei many pixels across, where that loses nothing. A tensor is searched on its device.
    """
    if isinstance(distance, torch.Tensor):
        try:
            return seed_peaks_torch(distance, h, sigma, step)
        except torch.cuda.OutOfMemoryError:  # the same search on the host
            out_of_device_memory()
            distance = to_host(distance)
    smooth = ndi.gaussian_filter(np.asarray(distance, np.float32), sigma) if sigma else distance
    if step <= 1:
        return h_maxima(smooth, h).astype(bool) & (smooth > SEED_FLOOR)
    coarse = h_maxima(smooth[::step, ::step], h).astype(bool)
    full = np.repeat(np.repeat(coarse, step, axis=0), step, axis=1)
    return full[: smooth.shape[0], : smooth.shape[1]] & (smooth > SEED_FLOOR)


def split_touching(
    mask: np.ndarray, distance: np.ndarray, peaks: np.ndarray | None = None
) -> np.ndarray:
    """Watershed of the foreground mask on the distance map, seeded by its peaks.

    Components that hold no seed keep one label each, so no foreground is lost.
    """
    components, n = ndi.label(mask)
    peaks = seed_peaks(distance) if peaks is None else peaks
    seeds, _ = ndi.label(mask & peaks)
    per_component = np.bincount(components[seeds > 0], minlength=n + 1)
    multi = per_component > 1
    multi[0] = False
    out = components.astype(np.int64)
    if not multi.any():
        return out
    # Only components with two or more seeds need the watershed.
    region = multi[components]
    split = watershed(-np.asarray(distance), np.where(region, seeds, 0), mask=region)
    out[region] = split[region] + n
    return out


def labels_from_maps(
    foreground: np.ndarray,
    distance: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    split: bool = True,
    min_size: int = DEFAULT_MIN_SIZE,
    peaks: np.ndarray | None = None,
) -> np.ndarray:
    """Threshold the foreground; optionally split touching nuclei; consecutive ids.

    ``peaks`` (from ``seed_peaks``) may be passed in to avoid recomputing them. Map tensors
    (on a device) are labelled there (``labels_on_device``); the labels are numpy either way.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if foreground.shape != distance.shape:
        raise ValueError(f"map shapes differ: {foreground.shape} vs {distance.shape}")
    if isinstance(foreground, torch.Tensor):
        if peaks is None or isinstance(peaks, torch.Tensor):
            try:
                return labels_on_device(foreground, distance, threshold, split, min_size, peaks)
            except torch.cuda.OutOfMemoryError:  # the same rules on the host
                out_of_device_memory()
        foreground, distance = to_host(foreground), to_host(distance)
        peaks = None if peaks is None else to_host(peaks)
    mask = np.asarray(foreground) > threshold
    if split:
        labels = split_touching(mask, np.asarray(distance), peaks)
    else:
        labels = ndi.label(mask)[0]
    return relabel_sequential(labels, min_size)


# The same post-processing in torch, for maps on an accelerator: the maps stay there until the
# labels come back. The same rules as above (ids in the same order); see ``labels_on_device``.

CHECK_EVERY = 8  # iterations between convergence checks (each check waits for the device)


def out_of_device_memory() -> None:
    """After the device's memory ran out: its cache freed, and a warning.

    The host's post-processing follows the same rules: the labels are the same, only slower.
    """
    import warnings

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    warnings.warn(
        "the GPU's memory ran out in post-processing; it goes on on the CPU (same labels)",
        RuntimeWarning,
        stacklevel=3,
    )


def to_host(a) -> np.ndarray:
    """A numpy array of a map or mask, wherever it lies (numpy arrays as they are)."""
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _symmetric_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices padding a length ``n`` by ``pad`` each side as scipy's ``reflect`` mode."""
    i = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def gaussian_torch(x: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """``ndi.gaussian_filter`` of a float32 2D tensor, summed in scipy's order.

    float64 sums, outermost pairs first, float32 after each axis: flat maps stay as flat.
    """
    r = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 / sigma**2 * np.arange(-r, r + 1) ** 2)
    k = (k / k.sum())[r:].tolist()
    out = x
    for axis in (0, 1):
        n = out.shape[axis]
        padded = out.index_select(axis, _symmetric_index(n, r, x.device)).double()
        acc = padded.narrow(axis, r, n) * k[0]
        for j in range(r, 0, -1):
            acc += (padded.narrow(axis, r - j, n) + padded.narrow(axis, r + j, n)) * k[j]
        out = acc.float()
    return out.contiguous()


def _dilate_until_stable(marker: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reconstruction by dilation (3x3) of ``marker`` under ``mask``: max-pool until stable."""
    rec = marker[None, None]
    limit = mask[None, None]
    while True:
        for _ in range(CHECK_EVERY):
            last = rec
            rec = torch.minimum(F.max_pool2d(rec, 3, 1, 1), limit)
        if torch.equal(rec, last):
            return rec[0, 0]


def h_maxima_torch(f: torch.Tensor, h: float, relevant: torch.Tensor) -> torch.Tensor:
    """The ``h_maxima`` of skimage (float32, 8-connected) at the pixels of ``relevant``.

    Paths through pixels lower than every relevant one less ``h`` cannot change the answer
    there, so those pixels are held still (the reconstruction then stops early).
    """
    shifted = f - h - 2 * np.finfo(np.float32).resolution * f.abs()
    if not relevant.any() or bool(f.max() - f.min() < np.float32(h)):  # skimage: none
        return torch.zeros_like(relevant)
    low = f < (f[relevant].min() - h - 1e-3)
    floor = torch.full_like(f, -np.inf)
    rec = _dilate_until_stable(torch.where(low, floor, shifted), torch.where(low, floor, f))
    return ((f - rec) >= h) & relevant


def seed_peaks_torch(
    distance: torch.Tensor,
    h: float = DEFAULT_SEED_H,
    sigma: float = DEFAULT_SEED_SIGMA,
    step: int = 1,
) -> torch.Tensor:
    """``seed_peaks`` of a distance map tensor, on its device."""
    d = distance.float()
    smooth = gaussian_torch(d, sigma) if sigma else d
    above = smooth > SEED_FLOOR
    if step <= 1:
        return h_maxima_torch(smooth, h, above)
    hh, ww = smooth.shape
    ph, pw = -hh % step, -ww % step  # blocks of the coarse grid that hold a pixel above
    near = F.max_pool2d(F.pad(above.float()[None, None], (0, pw, 0, ph)), step)[0, 0] > 0
    coarse = h_maxima_torch(smooth[::step, ::step], h, near)
    full = coarse.repeat_interleave(step, 0).repeat_interleave(step, 1)
    return full[:hh, :ww] & above


def _neighbours(x: torch.Tensor, fill: int) -> tuple[torch.Tensor, ...]:
    """The 4-connected neighbours' values of each pixel (``fill`` beyond the edge)."""
    p = F.pad(x[None], (1, 1, 1, 1), value=fill)[0]
    return p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]


def label_components_torch(mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``ndi.label`` (4-connected) of a bool tensor: int64 ids 1..n in the same raster order.

    Each pixel takes the smallest pixel index of its component by propagation and pointer
    jumping; the component's first pixel is where the index is its own.
    """
    h, w = mask.shape
    size = h * w
    dtype = torch.int32 if size < 2**31 - 1 else torch.int64
    index = torch.arange(size, device=mask.device, dtype=dtype).view(h, w)
    lab = torch.where(mask, index, size)
    while True:
        for _ in range(CHECK_EVERY):
            last = lab
            a, b, c, d = _neighbours(lab, size)
            lab = torch.minimum(torch.minimum(lab, a), torch.minimum(b, torch.minimum(c, d)))
            lab = torch.where(mask, lab, size)
            lab = torch.where(mask, lab.view(-1)[lab.clamp(max=size - 1)], size)
        if torch.equal(lab, last):
            break
    rank = torch.cumsum((mask & (lab == index)).view(-1), 0)
    n = int(rank[-1]) if size else 0
    return torch.where(mask, rank[lab.clamp(max=size - 1)], 0), n  # int64 ids


def _flood_levels(distance: torch.Tensor, seeded: torch.Tensor, region: torch.Tensor):
    """(flood level, arrival) of each pixel of ``region``: skimage's pop order.

    The level is the best lowest distance on a path from a seed (seeds: their own); the
    arrival is the iteration that level was reached at (breadth-first order within a level).
    """
    low = torch.tensor(-np.inf, device=distance.device)
    flood = torch.where(seeded, distance, low)
    arrival = torch.zeros(distance.shape, dtype=torch.int32, device=distance.device)
    grow = region & ~seeded
    step = 0
    while True:
        for _ in range(CHECK_EVERY):
            step += 1
            a, b, c, d = _neighbours(flood, -np.inf)
            reach = torch.minimum(torch.maximum(torch.maximum(a, b), torch.maximum(c, d)), distance)
            raised = grow & (reach > flood)
            flood = torch.where(raised, reach, flood)
            arrival = torch.where(raised, step, arrival)
        if not raised.any():
            return torch.where(region, flood, low), arrival


def watershed_torch(distance: torch.Tensor, seeds: torch.Tensor, region: torch.Tensor):
    """Seeded watershed on -distance within ``region``, as skimage's priority flooding.

    Each pixel joins the neighbour skimage floods first: the highest flood level, then the
    earliest arrival (skimage: the oldest), then a fixed direction order. The labels follow
    those links back to the seeds (pointer jumping).
    """
    h, w = distance.shape
    seeded = region & (seeds > 0)
    flood, arrival = _flood_levels(distance, seeded, region)
    levels = torch.stack(_neighbours(flood, -np.inf))
    first = levels == levels.max(0).values
    late = torch.stack(_neighbours(arrival, 2**31 - 1))
    direction = torch.where(first, late, 2**31 - 1).argmin(0)
    offsets = torch.tensor([-w, w, -1, 1], device=distance.device)
    index = torch.arange(h * w, device=distance.device).view(h, w)
    link = torch.where(region & ~seeded, index + offsets[direction], index).view(-1)
    while True:
        jumped = link[link]
        if torch.equal(jumped, link):
            break
        link = jumped
    return torch.where(region, seeds.view(-1)[link].view(h, w), 0)


def relabel_sequential_torch(labels: torch.Tensor, min_size: int = 0) -> np.ndarray:
    """``relabel_sequential`` on the device; only the final labels come to the host."""
    counts = torch.bincount(labels.view(-1))
    keep = counts >= max(min_size, 1)
    keep[0] = False
    lut = torch.cumsum(keep, 0) * keep
    n = int(lut.max()) if lut.numel() else 0
    return lut[labels].to(torch.int32).cpu().numpy().astype(label_dtype(n))


def split_touching_torch(
    mask: torch.Tensor, distance: torch.Tensor, peaks: torch.Tensor | None = None
) -> torch.Tensor:
    """``split_touching`` on the device (int64 ids in the same order)."""
    components, n = label_components_torch(mask)
    peaks = seed_peaks_torch(distance) if peaks is None else peaks
    seeds, _ = label_components_torch(mask & peaks)
    per_component = torch.bincount(components[seeds > 0], minlength=n + 1)
    multi = per_component > 1
    multi[0] = False
    if not bool(multi.any()):
        return components
    region = multi[components]
    split = watershed_torch(distance, seeds, region)
    return torch.where(region, split + n, components)


def labels_on_device(
    foreground: torch.Tensor,
    distance: torch.Tensor,
    threshold: float,
    split: bool,
    min_size: int,
    peaks: torch.Tensor | None = None,
) -> np.ndarray:
    """``labels_from_maps`` of map tensors, on their device; the labels come back as numpy."""
    mask = foreground > threshold
    if split:
        labels = split_touching_torch(mask, distance.float(), peaks)
    else:
        labels = label_components_torch(mask)[0]
    return relabel_sequential_torch(labels, min_size)
