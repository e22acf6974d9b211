"""``NucleusModel``: the one engine behind the widget, the command line and scripts.

Settings are validated once (``Settings.of``). The per-image decisions (normalisation and
polarity, nucleus scale, seed search) are made once by ``decide`` and applied the same way
to a 2D image, every plane of a stack, every block of a big image and every cluster task.
``segment`` picks the path (plane, stack or blocks) in one place (``choose_path``) and is
the one way every front (API, command line, folder pipeline, cluster, widget) gets labels.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ._decisions import Decisions, choose_path, trained_diameter
from ._device import resolve_device
from ._estimate import auto_scale, central_view, measured_diameter
from ._inference import image_border, keeps_maps, model_on, predict_maps
from ._model import fused_for_inference
from ._normalize import fit_normalization
from ._prediction import Prediction, Segmentation
from ._scale import scaled_shape
from ._settings import ProgressCallback, Settings
from ._stack import (
    DEFAULT_LINK_IOU,
    canonical_view,
    check_image,
    lazy_array,
    plane_progress,
    read_plane,
    resolve_axes,
    stack_labels,
)
from ._tiling import block_plan, labelled_in_order, nucleus_margin, read_region, stitch_all


class NucleusModel:
    """A U-Net (bundled ``"general"``/``"stained"``, or a weights file) on a device."""

    def __init__(self, weights: str | None = None, device: str = "auto") -> None:
        self.weights = None if weights in (None, "", "general") else str(weights)
        self.requested_device = str(device)
        self.network, self.device = model_on(device, self.weights)
        self.diameter = trained_diameter(self.network)
        self.network_seconds = 0.0  # time spent in the network by this object, all calls

    @classmethod
    def from_network(cls, network: object, device: str = "auto") -> NucleusModel:
        """A model around a U-Net in memory (one being fine-tuned, scored as it learns).

        Batch-norm is folded into a copy on ``device``; ``network`` itself is untouched.
        """
        model = cls.__new__(cls)
        model.weights, model.requested_device = None, str(device)
        model.device = resolve_device(device)
        fused = fused_for_inference(network).to(model.device, memory_format=torch.channels_last)
        model.network, model.diameter = fused, trained_diameter(fused)
        model.network_seconds, model.in_memory = 0.0, True
        return model

    def __reduce__(self):  # cluster tasks: each worker loads (and caches) the weights itself
        if getattr(self, "in_memory", False):
            raise TypeError("a NucleusModel made from_network has no file to send to workers")
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
        border: int | None = None,
    ) -> np.ndarray:
        """The network's maps of a normalised image run at ``scale``, as ``predict_maps``.

        On an accelerator they stay there (a tensor) and are labelled there (``keeps_maps``).
        """
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
                keep=keeps_maps(self.device),
                border=border,
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
        norm = fit_normalization(source, settings.invert, stain=settings.stain)
        md, wanted = self.diameter, settings.diameter
        first = estimate = None
        if wanted is None or (wanted == "auto" and norm.high - norm.low < 1e-6):
            scale, diameter = 1.0, None
        elif wanted != "auto":
            scale, diameter = md / wanted, float(wanted)
        else:
            view = central_view(
                source.shape, lambda region: norm.apply(read_region(source, region))
            )
            scale, estimate, first, _ = auto_scale(
                view, md, lambda x: self._maps(x, 1.0, settings, progress)
            )
            diameter = md / scale
        border = image_border(scaled_shape(source.shape[:2], scale), settings.halo)
        return Decisions(norm, scale, diameter, estimate, md, border), first

    def predict(
        self,
        image: np.ndarray,
        progress: ProgressCallback | None = None,
        settings: Settings | None = None,
        **options,
    ) -> Prediction:
        """The network's maps of a 2D image (grey or RGB(A)); label them with ``.labels``.

        ``progress(done, total)`` is called per batch of tiles and may raise to cancel.
        Labels for a user come from ``segment``: this is for maps (re-labelling cheaply).
        """
        return self._decided_prediction(image, settings or Settings.of(**options), progress)[0]

    def _decided_prediction(
        self, image: np.ndarray, s: Settings, progress: ProgressCallback | None
    ) -> tuple[Prediction, Decisions]:
        """The prediction of a 2D image and the decisions it was made with."""
        arr = check_image(image)
        t0, n0 = time.perf_counter(), self.network_seconds
        decisions, first = self.decide(arr, s, progress)
        pred = self._predict(arr, s, decisions, first, progress, t0)
        pred.info["network_seconds"] = self.network_seconds - n0
        return pred, decisions

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
        pred.device, pred.block_threads = str(self.device), s.block_threads
        pred.info.update(
            scale=d.scale,
            model_diameter=d.model_diameter,
            diameter_setting=s.diameter,
            estimate=d.estimate,
            channel=d.normalization.channel,
        )
        pred.seconds = time.perf_counter() - t0
        return pred

    def _prediction(
        self, norm: np.ndarray, s: Settings, d: Decisions, progress=None, threads: int | None = None
    ) -> Prediction:
        """The network's maps of a normalised image, on the grid ``d.label_scale`` picks."""
        finer = d.label_scale > 1
        maps = self._maps(norm, d.scale, s, progress, s.tta, finer, d.border)
        return Prediction(
            maps[0],
            maps[1],
            expected_diameter=None if d.diameter is None else d.diameter * d.label_scale,
            block_threads=s.block_threads if threads is None else threads,
            image_shape=norm.shape[:2] if finer else None,
        )

    def label_region(self, region: np.ndarray, s: Settings, d: Decisions) -> np.ndarray:
        """Labels (1..n) of one block read with its margin: a block or a cluster task."""
        pred = self._prediction(d.normalization.apply(region), s, d, threads=1)
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

        Only a few blocks plus margins are read at a time; ``settings.block_threads`` threads
        label blocks side by side (the labels do not depend on it).
        """
        s = settings or Settings.of(**options)
        d = decisions or self.decide(source, s)[0]
        blocks = self.plan(source.shape, s, d, margin)
        labelled = labelled_in_order(
            source, blocks, lambda r: self.label_region(r, s, d), s.block_threads
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
        *,
        axes: str | None = None,
        channel: int | None = None,
        link_z: bool = False,
        link_iou: float = DEFAULT_LINK_IOU,
        rgb: bool | None = None,
        margin: int | None = None,
        progress: ProgressCallback | None = None,
        out=None,
        settings: Settings | None = None,
        **options,
    ) -> Segmentation:
        """Labels of a 2D image, a stack or time series, or a lazy image larger than memory.

        ``axes`` like ``"TZYX"``, ``"CYX"`` or ``"YXC"`` (guessed when None; an ambiguous
        shape raises ``AmbiguousAxesError``); a C axis of 3/4 without ``channel`` is colour.
        Labels keep the input's axis order without C; ids are 1..N over the whole input.
        ``out`` receives the labels (a 2D image above ``big_image_pixels`` is labelled
        block by block into it, ``margin`` px around each block). Returns a
        ``Segmentation``: ``labels, decisions = model.segment(image)``.
        """
        s = settings or Settings.of(**options)
        image = lazy_array(image)
        axes = resolve_axes(tuple(image.shape), axes, rgb)
        if link_z and "Z" not in axes:
            raise ValueError(f"link_z needs a Z axis; axes are {axes!r}")
        view = canonical_view(image, axes, channel)
        n_lead = sum(a in axes for a in "TZ")
        path = choose_path(view.shape, n_lead, s)
        prediction = None
        if path == "stack":
            labels, decisions = self._segment_planes(view, n_lead, s, progress)
            labels = stack_labels(labels, axes, link_iou if link_z else None)
        elif path == "blocks":
            plane = view[(0,) * n_lead] if n_lead else view
            decisions = self.decide(plane, s)[0]
            labels = self.label_blocks(plane, out, progress, margin, s, decisions)[0]
        else:
            arr = read_plane(view, (0,) * n_lead)
            prediction, decisions = self._decided_prediction(arr, s, progress)
            labels = prediction.labels(**s.label_options())
        if out is not None and path != "blocks":
            out[...] = labels.reshape(out.shape)
        if out is not None:
            labels = out
        elif n_lead and path != "stack":
            labels = labels.reshape((1,) * n_lead + labels.shape)
        return Segmentation(labels, decisions, path, prediction)

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
    ) -> tuple[np.ndarray, Decisions]:
        """uint32 labels of every plane; polarity and scale decided on the middle plane."""
        indices = list(np.ndindex(tuple(view.shape[:n_lead])))
        mid = len(indices) // 2
        middle = check_image(read_plane(view, indices[mid]))
        decisions, first = self.decide(middle, s, plane_progress(progress, 0, len(indices)))
        out = np.zeros(tuple(view.shape[:n_lead]) + middle.shape[:2], np.uint32)
        next_id = 0
        for done, index in enumerate(indices, 1):
            plane = middle if done - 1 == mid else read_plane(view, index)
            d = decisions if done - 1 == mid else decisions.for_plane(plane)
            within = plane_progress(progress, done - 1, len(indices))
            labels = self._plane_labels(plane, s, d, first if done - 1 == mid else None, within)
            out[index] = np.where(labels > 0, labels.astype(np.uint32) + np.uint32(next_id), 0)
            next_id += int(labels.max(initial=0))
            if progress is not None:
                progress(done, len(indices))
        return out, decisions
