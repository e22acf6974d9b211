"""Export a model (bundled or fine-tuned) as a BioImage Model Zoo package (rdf.yaml format 0.5).

The zip holds TorchScript and state-dict weights (with the architecture source), a synthetic
test input with the network's output, a cover and a README. ``validate_package`` checks it
with ``bioimageio.spec`` (the ``export`` extra) without going online.
"""

from __future__ import annotations

import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .._model import UNet, bundled_weights_path, load_model, weights_file
from .._outputs import atomic_path, check_outside, package_folders
from .files import (
    architecture_kwargs,
    architecture_source,
    cover_image,
    documentation,
    load_architecture,
    run_network,
    sigmoid_network,
    synthetic_input,
)
from .rdf import NAMES, about, bundled_name, public_meta, rdf, tensor_sizes


class InvalidPackageError(ValueError):
    """bioimage.io's validator refused the package: it was not written."""


CARD_MISSING = "## Model card\nSee `weights/README.md` in the napari-unet-nuclei sources.\n"


def model_card() -> str | None:
    """The bundled models' card (weights/README.md), when it is installed."""
    card = bundled_weights_path().with_name("README.md")
    return card.read_text(encoding="utf-8") if card.is_file() else None


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


def _zip(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)


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
    validate: bool = False,
) -> Path:
    """Write ``weights`` (a bundled model's name or a .pt file) as a bioimage.io zip ``output``.

    Never replaces a file: raises FileExistsError; one that appears while the package is
    made is left as it is (UnsafeOutputError, from ``_outputs.publish``).
    With ``validate``, a package ``validate_package`` refuses raises InvalidPackageError
    and is not written. A missing or corrupt weights file raises FileNotFoundError or
    ValueError (from ``load_model``).
    """
    out = Path(output)
    check_outside(out, package_folders(), "the package")
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{out} exists: give a new file name for the package")
    model = load_model(str(weights_file(str(weights))))
    meta = public_meta(getattr(model, "meta", {}))
    heading = about(weights, meta, name, description, authors)
    card = (
        model_card() or CARD_MISSING
        if bundled_name(weights) or bundled_name(meta.get("base", "-"))
        else None
    )
    with tempfile.TemporaryDirectory() as tmp, atomic_path(out, "new", folder=False) as partial:
        write_package(Path(tmp), model, heading, meta, card, test_size, seed)
        _zip(Path(tmp), partial)
        report = validate_package(partial) if validate else None
        if report is not None:
            raise InvalidPackageError(report)
    return out


def validate_package(path: str | Path) -> str | None:
    """None when ``bioimageio.spec`` validates the package offline, else its error report."""
    from bioimageio.spec import load_description
    from bioimageio.spec.model.v0_5 import ModelDescr

    descr = load_description(str(path), perform_io_checks=True)
    if isinstance(descr, ModelDescr) and descr.validation_summary.status != "failed":
        return None
    return descr.validation_summary.format()
