"""``NucleusModel``: the one engine behind the widget, the command line and scripts.

Settings are validated once (``Settings.of``). The per-image decisions (normalisation and
polarity, nucleus scale, seed search) are made once by ``decide`` and applied the same way
to a 2D image, every plane of a stack, every block of a big image and every cluster task.
``segment`` picks the path (plane, stack or blocks) in one place: ``choose_path``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ._decisions import Decisions, trained_diameter
from ._estimate import auto_scale, central_view, measured_diameter
from ._inference import model_on, predict_maps
from ._normalize import fit_normalization
from ._postprocess import label_dtype, relabel_sequential
from ._prediction import Prediction
from ._settings import ProgressCallback, Settings
from ._stack import (
    DEFAULT_LINK_IOU,
    canonical_view,
    link_all,
    output_axes,
    read_plane,
    resolve_axes,
)
from ._tiling import block_plan, labelled_in_order, nucleus_margin, read_region, stitch_all


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as a 2D grey or (H, W, 3|4) colour array; a clear error otherwise."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        spatial = arr.shape[:2]
    elif arr.ndim == 2:
        spatial = arr.shape
    else:
        raise ValueError(
            f"predict takes a 2D grey or RGB(A) image; got shape {arr.shape}. "
            "For stacks and time series use segment(stack, axes=...)."
        )
    if min(spatial) == 0:
        raise ValueError(f"The image is empty (shape {arr.shape}).")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"Unsupported image data type {arr.dtype}.")
    return arr


def choose_path(shape: tuple[int, ...], n_lead: int, settings: Settings) -> str:
    """``"stack"``, ``"blocks"`` or ``"plane"`` for a ([T][Z], Y, X[, colour]) view's shape."""
    if math.prod(shape[:n_lead]) > 1:
        return "stack"
    h, w = shape[n_lead : n_lead + 2]
    return "blocks" if h * w > settings.big_image_pixels else "plane"


def _within_plane(progress: ProgressCallback | None, done: int, total: int):
    """A per-batch callback that re-reports ``done`` planes, so a stack run can cancel."""
    if progress is None:
        return None
    return lambda _tiles, _of: progress(done, total)


class NucleusModel:
    """A U-Net (bundled ``"general"``/``"stained"``, or a weights file) on a device."""

    def __init__(self, weights: str | None = None, device: str = "auto") -> None:
        self.weights = None if weights in (None, "", "general") else str(weights)
        self.requested_device = str(device)
        self.network, self.device = model_on(device, self.weights)
        self.diameter = trained_diameter(self.network)
        self.network_seconds = 0.0  # time spent in the network by this object, all calls

    def __reduce__(self):  # cluster tasks: each worker loads (and caches) the weights itself
        return NucleusModel, (self.weights, self.requested_device)

    def __repr__(self) -> str:
        return f"NucleusModel(weights={self.weights or 'general'!r}, device='{self.device}')"

    def _maps(
        self,
        norm: np.ndarray,
        scale: float,
        s: Settings,
        progress=None,
        tta: bool = False,
        on_network_grid: bool = False,
    ) -> np.ndarray:
        """The network's maps of a normalised image run at ``scale``, as ``predict_maps``."""
        t0 = time.perf_counter()
        try:
            return predict_maps(
                norm,
                self.network,
                self.device,
                scale=scale,
                tile=s.tile_size,
                halo=s.halo,
                batch_size=s.batch_size,
                progress=progress,
                tta=tta,
                precision=s.precision,
                on_network_grid=on_network_grid,
            )
        finally:
            self.network_seconds += time.perf_counter() - t0

    def decide(
        self, source, settings: Settings, progress: ProgressCallback | None = None
    ) -> tuple[Decisions, Prediction | None]:
        """The per-image decisions for ``source`` (any array: numpy, dask, zarr).

        Normalisation from (a sample of) the whole image; the scale from the ``diameter``
        setting, or for ``"auto"`` from passes on central squares. Also returns the
        full-scale pass of its central square, which may serve as the prediction of a small
        image.
        """
        norm = fit_normalization(source, settings.invert)
        md, wanted = self.diameter, settings.diameter
        if wanted is None or (wanted == "auto" and norm.high - norm.low < 1e-6):
            return Decisions(norm, 1.0, None, None, md), None
        if wanted != "auto":
            return Decisions(norm, md / wanted, float(wanted), None, md), None
        view = central_view(source.shape, lambda region: norm.apply(read_region(source, region)))
        scale, estimate, first, _ = auto_scale(
            view, md, lambda x: self._maps(x, 1.0, settings, progress)
        )
        return Decisions(norm, scale, md / scale, estimate, md), first

    def predict(
        self,
        image: np.ndarray,
        progress: ProgressCallback | None = None,
        settings: Settings | None = None,
        **options,
    ) -> Prediction:
        """The network's maps of a 2D image (grey or RGB(A)); label them with ``.labels``.

        ``progress(done, total)`` is called per batch of tiles and may raise to cancel.
        """
        s = settings or Settings.of(**options)
        arr = check_image(image)
        t0, n0 = time.perf_counter(), self.network_seconds
        decisions, first = self.decide(arr, s, progress)
        pred = self._predict(arr, s, decisions, first, progress, t0)
        pred.info["network_seconds"] = self.network_seconds - n0
        return pred

    def _predict(
        self,
        arr: np.ndarray,
        s: Settings,
        d: Decisions,
        first: Prediction | None,
        progress: ProgressCallback | None,
        t0: float,
    ) -> Prediction:
        if first is not None and first.shape == arr.shape[:2] and d.scale == 1 and not s.tta:
            pred = first  # the estimating pass already covered the whole image at scale 1
        elif d.constant:
            pred = Prediction(*np.zeros((2, *arr.shape[:2]), np.float32))
            pred.info["diameter"] = None
        else:
            pred = self._prediction(d.normalization.apply(arr), s, d, progress)
            pred.info["diameter"] = measured_diameter(pred)
        pred.device, pred.workers = str(self.device), s.workers
        pred.info.update(
            scale=d.scale,
            model_diameter=d.model_diameter,
            diameter_setting=s.diameter,
            estimate=d.estimate,
        )
        pred.seconds = time.perf_counter() - t0
        return pred

    def _prediction(
        self, norm: np.ndarray, s: Settings, d: Decisions, progress=None, workers: int | None = None
    ) -> Prediction:
        """The network's maps of a normalised image, on the grid ``d.label_scale`` picks."""
        finer = d.label_scale > 1
        maps = self._maps(norm, d.scale, s, progress, s.tta, on_network_grid=finer)
        return Prediction(
            maps[0],
            maps[1],
            expected_diameter=None if d.diameter is None else d.diameter * d.label_scale,
            workers=s.workers if workers is None else workers,
            image_shape=norm.shape[:2] if finer else None,
        )

    def label_region(self, region: np.ndarray, s: Settings, d: Decisions) -> np.ndarray:
        """Labels (1..n) of one block read with its margin: a block or a cluster task."""
        pred = self._prediction(d.normalization.apply(region), s, d, workers=1)
        return pred.labels(**s.label_options())

    def label_blocks(
        self,
        source,
        out=None,
        progress: ProgressCallback | None = None,
        margin: int | None = None,
        settings: Settings | None = None,
        decisions: Decisions | None = None,
        **options,
    ) -> tuple[object, int]:
        """Label a big 2D (or RGB) image block by block into ``out``; (out, count).

        Only a few blocks plus margins are read at a time; ``settings.workers`` threads
        label blocks side by side (the labels do not depend on it).
        """
        s = settings or Settings.of(**options)
        d = decisions or self.decide(source, s)[0]
        blocks = self.plan(source.shape, s, d, margin)
        labelled = labelled_in_order(
            source, blocks, lambda r: self.label_region(r, s, d), s.workers
        )
        return stitch_all(source.shape, out, blocks, labelled, s.min_size, progress)

    def plan(self, shape: tuple[int, ...], s: Settings, d: Decisions, margin: int | None = None):
        """The blocks of a big image: margins of 4 nucleus sizes plus the network's halo."""
        if margin is None:
            margin = nucleus_margin(d.size, math.ceil(s.halo / d.scale))
        return block_plan(shape, s.block_size, margin, self.network.config.stride)

    def segment(
        self,
        image,
        axes: str | None = None,
        channel: int | None = None,
        link_z: bool = False,
        link_iou: float = DEFAULT_LINK_IOU,
        rgb: bool | None = None,
        progress: ProgressCallback | None = None,
        out=None,
        settings: Settings | None = None,
        **options,
    ) -> np.ndarray:
        """Labels of a 2D image, a stack or time series, or a lazy image larger than memory.

        ``axes`` like ``"TZYX"``, ``"CYX"`` or ``"YXC"`` (guessed when None; an ambiguous
        shape raises ``AmbiguousAxesError``); a C axis of 3/4 without ``channel`` is colour.
        Labels keep the input's axis order without C; ids are 1..N over the whole input.
        ``out`` (2D images only) receives the labels of an image segmented block by block.
        """
        s = settings or Settings.of(**options)
        shape = tuple(image.shape) if hasattr(image, "shape") else np.shape(image)
        axes = resolve_axes(shape, axes, rgb)
        if link_z and "Z" not in axes:
            raise ValueError(f"link_z needs a Z axis; axes are {axes!r}")
        view = canonical_view(image, axes, channel)
        n_lead = sum(a in axes for a in "TZ")
        path = choose_path(view.shape, n_lead, s)
        if path == "stack":
            labels = self._segment_planes(view, n_lead, s, progress)
            labels = relabel_sequential(link_all(labels, link_iou)) if link_z else labels
            labels = labels.astype(label_dtype(int(labels.max(initial=0))), copy=False)
            canonical = [a for a in "TZYX" if a in axes]
            order = [canonical.index(a) for a in output_axes(axes)]
            return np.ascontiguousarray(labels.transpose(order))
        plane = view[(0,) * n_lead]
        if path == "blocks":
            labels = self.label_blocks(plane, out, progress, settings=s)[0]
        else:
            arr = read_plane(view, (0,) * n_lead)
            labels = self.predict(arr, progress, s).labels(**s.label_options())
        return labels.reshape((1,) * n_lead + labels.shape) if n_lead and out is None else labels

    def _plane_labels(
        self, plane: np.ndarray, s: Settings, d: Decisions, first, progress
    ) -> np.ndarray:
        """Labels of one plane of a stack with the stack's decisions."""
        if choose_path(plane.shape, 0, s) == "blocks":
            return self.label_blocks(plane, None, None, settings=s, decisions=d)[0]
        pred = self._predict(check_image(plane), s, d, first, progress, time.perf_counter())
        return pred.labels(**s.label_options())

    def _segment_planes(
        self, view, n_lead: int, s: Settings, progress: ProgressCallback | None
    ) -> np.ndarray:
        """uint32 labels of every plane; polarity and scale decided on the middle plane."""
        indices = list(np.ndindex(tuple(view.shape[:n_lead])))
        mid = len(indices) // 2
        middle = check_image(read_plane(view, indices[mid]))
        decisions, first = self.decide(middle, s, _within_plane(progress, 0, len(indices)))
        out = np.zeros(tuple(view.shape[:n_lead]) + middle.shape[:2], np.uint32)
        next_id = 0
        for done, index in enumerate(indices, 1):
            plane = middle if done - 1 == mid else read_plane(view, index)
            d = decisions if done - 1 == mid else decisions.for_plane(plane)
            within = _within_plane(progress, done - 1, len(indices))
            labels = self._plane_labels(plane, s, d, first if done - 1 == mid else None, within)
            out[index] = np.where(labels > 0, labels.astype(np.uint32) + np.uint32(next_id), 0)
            next_id += int(labels.max(initial=0))
            if progress is not None:
                progress(done, len(indices))
        return out
