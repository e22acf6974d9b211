"""Export a model (bundled or fine-tuned) as a BioImage Model Zoo package (rdf.yaml format 0.5).

The zip holds TorchScript and state-dict weights (with the architecture source), a synthetic
test input with the network's output, a cover and a README. ``validate_package`` checks it
with ``bioimageio.spec`` (the ``export`` extra) without going online.
"""

from __future__ import annotations

import hashlib
import string
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ._export_files import (
    ARCHITECTURE_CALLABLE,
    architecture_kwargs,
    architecture_source,
    cover_image,
    documentation,
    load_architecture,
    run_network,
    sigmoid_network,
    synthetic_input,
)
from ._inference import DEFAULT_HALO
from ._model import BUNDLED_MODELS, UNet, bundled_weights_path, load_model, weights_file

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


CARD_MISSING = "## Model card\nSee `weights/README.md` in the napari-unet-nuclei sources.\n"


def model_card() -> str | None:
    """The bundled models' card (weights/README.md), when it is installed."""
    card = bundled_weights_path().with_name("README.md")
    return card.read_text(encoding="utf-8") if card.is_file() else None


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


def write_files(folder: Path, model: UNet, test_size: int, seed: int) -> dict[str, np.ndarray]:
    """Write weights, architecture, test tensors and cover into ``folder``; return the tensors."""
    net = sigmoid_network(model)
    image = synthetic_input(test_size, seed)
    maps = run_network(net, image)
    np.save(folder / NAMES["input"], image)
    np.save(folder / NAMES["output"], maps)
    import tifffile

    tifffile.imwrite(folder / NAMES["sample_input"], image[0, 0])
    tifffile.imwrite(folder / NAMES["sample_output"], maps[0])
    torch.save(net.state_dict(), folder / NAMES["state_dict"])
    (folder / NAMES["arch"]).write_text(architecture_source(), encoding="utf-8")
    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript is deprecated in recent torch, but it is bioimage.io's torch format
        warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
        traced = torch.jit.trace(net, torch.from_numpy(image), check_trace=False)
        torch.jit.save(traced, str(folder / NAMES["torchscript"]))
    import imageio.v3 as iio

    iio.imwrite(folder / NAMES["cover"], cover_image(image, maps))
    return {"input": image, "output": maps}


def check_architecture(folder: Path, kwargs: dict, tensors: dict[str, np.ndarray]) -> None:
    """Rebuild the network from the written source and weights; it must give the test output."""
    net = load_architecture(folder / NAMES["arch"], kwargs)
    state = torch.load(folder / NAMES["state_dict"], map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    maps = run_network(net.eval(), tensors["input"])
    if not np.allclose(maps, tensors["output"], atol=1e-5):
        raise RuntimeError("the exported architecture does not reproduce the network's output")


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
    scale = {
        "id": "scale_range",
        "kwargs": {"axes": ["y", "x"], "min_percentile": 1.0, "max_percentile": 99.8},
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
        "diameter": float(meta.get("diameter", 16.0)),
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


def _zip(folder: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, path.name)
    except BaseException:
        target.unlink(missing_ok=True)  # no half-written package left behind
        raise


def write_package(
    folder: Path,
    model: UNet,
    heading: dict,
    meta: dict,
    card: str | None,
    test_size: int,
    seed: int,
) -> None:
    """Write every file of the package, rdf.yaml last, into ``folder``."""
    import yaml

    sizes, kwargs = tensor_sizes(model), architecture_kwargs(model.config)
    if test_size < sizes["min"] or (test_size - sizes["min"]) % sizes["step"]:
        raise ValueError(f"test_size must be {sizes['min']} + n * {sizes['step']}")
    check_architecture(folder, kwargs, write_files(folder, model, test_size, seed))
    (folder / NAMES["doc"]).write_text(
        documentation(
            heading["name"], heading["description"], meta, card, {**sizes, "arch": NAMES["arch"]}
        ),
        encoding="utf-8",
    )
    text = yaml.safe_dump(
        rdf(folder, heading, kwargs, sizes, meta), sort_keys=False, allow_unicode=True
    )
    (folder / "rdf.yaml").write_text(text, encoding="utf-8")


def export_bioimageio(
    weights: str | Path,
    output: str | Path,
    *,
    name: str | None = None,
    description: str | None = None,
    authors: Sequence[str] | None = None,
    test_size: int = 256,
    seed: int = 0,
) -> Path:
    """Write ``weights`` (a bundled model's name or a .pt file) as a bioimage.io zip ``output``.

    Never replaces a file: raises FileExistsError. A missing or corrupt weights file raises
    FileNotFoundError or ValueError (from ``load_model``).
    """
    out = Path(output)
    if out.exists():
        raise FileExistsError(f"{out} exists: give a new file name for the package")
    model = load_model(str(weights_file(str(weights))))
    meta = public_meta(getattr(model, "meta", {}))
    heading = about(weights, meta, name, description, authors)
    card = (
        model_card() or CARD_MISSING
        if bundled_name(weights) or bundled_name(meta.get("base", "-"))
        else None
    )
    partial = out.with_name(f".{out.name}.partial")
    with tempfile.TemporaryDirectory() as tmp:
        write_package(Path(tmp), model, heading, meta, card, test_size, seed)
        _zip(Path(tmp), partial)
    if out.exists():
        partial.unlink()
        raise FileExistsError(f"{out} appeared while exporting: it was left as it is")
    return partial.replace(out)


def validate_package(path: str | Path) -> str | None:
    """None when ``bioimageio.spec`` validates the package offline, else its error report."""
    from bioimageio.spec import load_description
    from bioimageio.spec.model.v0_5 import ModelDescr

    descr = load_description(str(path), perform_io_checks=True)
    if isinstance(descr, ModelDescr) and descr.validation_summary.status != "failed":
        return None
    return descr.validation_summary.format()
