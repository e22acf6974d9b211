"""The rdf.yaml (format 0.5) of a bioimage.io package: file names, metadata, tensors, weights."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from pathlib import Path

import torch

from .._decisions import trained_diameter
from .._inference import DEFAULT_HALO
from .._model import BUNDLED_MODELS, UNet, bundled_weights_path
from .._normalize import HIGH_PERCENTILE, LOW_PERCENTILE
from .files import ARCHITECTURE_CALLABLE

FORMAT_VERSION = "0.5.4"
LICENSE = "BSD-3-Clause"
DEFAULT_AUTHORS = ("napari-unet-nuclei developers",)
CITE = [
    {
        "text": "Caicedo et al. (2019). Nucleus segmentation across imaging experiments: the 2018 "
        "Data Science Bowl. Nature Methods 16, 1247-1253 (training data: BBBC038, CC0).",
        "doi": "10.1038/s41592-019-0612-7",
    },
    {
        "text": "Ronneberger, Fischer and Brox (2015). U-Net: convolutional networks for "
        "biomedical image segmentation. MICCAI 2015.",
        "doi": "10.1007/978-3-319-24574-4_28",
    },
]
TAGS = ["nuclei", "instance-segmentation", "unet", "2d", "pytorch", "napari", "napari-unet-nuclei"]
KIND_TAGS = {"stained": ["histology", "brightfield-microscopy"]}
NAME_CHARACTERS = set(string.ascii_letters + string.digits + "_+- ()")  # bioimage.io names
NAMES = {
    "arch": "unet_nuclei_arch.py",
    "state_dict": "weights.pt",
    "torchscript": "weights_torchscript.pt",
    "input": "test_input.npy",
    "output": "test_output.npy",
    "sample_input": "sample_input.tif",
    "sample_output": "sample_output.tif",
    "cover": "cover.png",
    "doc": "README.md",
}


def bundled_name(weights: str | Path) -> str | None:
    """The bundled model's name that ``weights`` refers to (by name or by file), else None."""
    if str(weights) in BUNDLED_MODELS:
        return str(weights)
    path = Path(weights).resolve()
    return next((n for n in BUNDLED_MODELS if bundled_weights_path(n).resolve() == path), None)


def tensor_sizes(model: UNet) -> dict[str, int]:
    """Input size rule (min + n*step, a stride multiple larger than two halos) and the halo."""
    step = model.config.stride
    halo = -(-DEFAULT_HALO // step) * step
    return {"min": 2 * halo + step, "step": step, "halo": halo}


def public_meta(meta: dict) -> dict:
    """A copy of the model's metadata whose base model is a name, never a user's path."""
    out = dict(meta)
    if "base" in out:
        out["base"] = bundled_name(out["base"]) or Path(str(out["base"])).name
    return out


def default_name(weights: str | Path, meta: dict) -> str:
    """A package name: the bundled model's name, or the file's stem and its base model."""
    bundled = bundled_name(weights)
    if bundled:
        return f"napari-unet-nuclei {bundled} nuclei U-Net"
    base = bundled_name(meta["base"]) if "base" in meta else None
    stem = "".join(c if c in NAME_CHARACTERS else "_" for c in Path(weights).stem)[:40]
    return f"napari-unet-nuclei {stem}" + (f" (fine-tuned from {base})" if base else "")


def default_description(weights: str | Path, meta: dict) -> str:
    """One sentence on what the model is and where it comes from."""
    origin = (
        f"the bundled '{bundled_name(weights)}' model"
        if bundled_name(weights)
        else f"a model fine-tuned from '{meta['base']}'"
        if "base" in meta
        else "a user-trained model"
    )
    return (
        "2D nucleus segmentation U-Net of the napari plugin napari-unet-nuclei "
        f"({origin}): foreground and distance-to-border maps for a watershed."
    )


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file(folder: Path, key: str) -> dict[str, str]:
    return {"source": NAMES[key], "sha256": sha256(folder / NAMES[key])}


def _space_axes(sizes: dict[str, int], output: bool) -> list[dict]:
    if output:
        return [
            {
                "type": "space",
                "id": a,
                "halo": sizes["halo"],
                "size": {"tensor_id": "image", "axis_id": a},
            }
            for a in ("y", "x")
        ]
    return [
        {"type": "space", "id": a, "size": {"min": sizes["min"], "step": sizes["step"]}}
        for a in ("y", "x")
    ]


def inputs_outputs(folder: Path, sizes: dict[str, int]) -> dict[str, list[dict]]:
    """The rdf's ``inputs`` and ``outputs``: axes, data types, scaling, test tensors."""
    percentiles = {"min_percentile": LOW_PERCENTILE, "max_percentile": HIGH_PERCENTILE}
    scale = {
        "id": "scale_range",
        "kwargs": {"axes": ["y", "x"], **percentiles},
    }
    image = {
        "id": "image",
        "description": "grey image, nuclei bright on dark",
        "axes": [
            {"type": "batch"},
            {"type": "channel", "channel_names": ["grey"]},
            *_space_axes(sizes, output=False),
        ],
        "test_tensor": _file(folder, "input"),
        "sample_tensor": _file(folder, "sample_input"),
        "data": {"type": "float32"},
        "preprocessing": [scale],
    }
    maps = {
        "id": "maps",
        "description": "foreground probability; distance to the nucleus "
        "border, normalised to 1 at each centre",
        "axes": [
            {"type": "batch"},
            {"type": "channel", "channel_names": ["foreground", "distance"]},
            *_space_axes(sizes, output=True),
        ],
        "test_tensor": _file(folder, "output"),
        "sample_tensor": _file(folder, "sample_output"),
        "data": {"type": "float32", "range": [0.0, 1.0]},
    }
    return {"inputs": [image], "outputs": [maps]}


def weights_entries(folder: Path, kwargs: dict) -> dict[str, dict]:
    """The rdf's ``weights``: the state dict with its architecture, and TorchScript from it."""
    version = torch.__version__.split("+")[0]
    arch = {**_file(folder, "arch"), "callable": ARCHITECTURE_CALLABLE, "kwargs": kwargs}
    return {
        "pytorch_state_dict": {
            **_file(folder, "state_dict"),
            "architecture": arch,
            "pytorch_version": version,
        },
        "torchscript": {
            **_file(folder, "torchscript"),
            "pytorch_version": version,
            "parent": "pytorch_state_dict",
            "comment": "traced from the state-dict network",
        },
    }


def about(
    weights: str | Path,
    meta: dict,
    name: str | None = None,
    description: str | None = None,
    authors: Sequence[str] | None = None,
) -> dict:
    """The rdf's name, description, authors and tags (defaults from the model's origin)."""
    kind = bundled_name(weights) or bundled_name(meta.get("base", "-")) or "general"
    return {
        "name": name or default_name(weights, meta),
        "description": description or default_description(weights, meta),
        "authors": [{"name": a} for a in authors or DEFAULT_AUTHORS],
        "tags": TAGS + KIND_TAGS.get(kind, ["fluorescence-light-microscopy"]),
    }


def rdf(folder: Path, heading: dict, kwargs: dict, sizes: dict[str, int], meta: dict) -> dict:
    """The whole rdf.yaml content (format 0.5) for the files written in ``folder``."""
    plugin = {
        "diameter": trained_diameter(meta),
        "invert_dark_on_bright": True,
        **{
            k: meta[k]
            for k in (
                "base",
                "images",
                "nuclei",
                "finetune_steps",
                "holdout_ap50",
                "base_holdout_ap50",
            )
            if k in meta
        },
    }
    return {
        "format_version": FORMAT_VERSION,
        "type": "model",
        **heading,
        "cite": CITE,
        "license": LICENSE,
        "documentation": NAMES["doc"],
        "covers": [NAMES["cover"]],
        **inputs_outputs(folder, sizes),
        "weights": weights_entries(folder, kwargs),
        "config": {"napari-unet-nuclei": plugin},
    }
