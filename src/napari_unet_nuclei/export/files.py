"""The files of a bioimage.io package: architecture source, test tensors, cover, documentation.

Pure builders (text or arrays in, text or arrays out); ``package`` writes and zips them.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import torch

from .._decisions import trained_diameter
from .._model import UNet, UNetConfig, _block
from .._normalize import HIGH_PERCENTILE, LOW_PERCENTILE, percentile_normalize
from .._sample_data import synthetic_nuclei


class UNetNuclei(UNet):
    """The U-Net with a sigmoid: foreground and normalised-distance probabilities."""

    def __init__(
        self, in_channels: int = 1, out_channels: int = 2, base: int = 16, depth: int = 4
    ) -> None:
        super().__init__(UNetConfig(in_channels, out_channels, base, depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The maps as probabilities (sigmoid of the logits)."""
        return torch.sigmoid(super().forward(x))


ARCHITECTURE_CALLABLE = UNetNuclei.__name__
_HEADER = '''"""The napari-unet-nuclei U-Net, standalone (torch only), generated from its _model.py.

{callable}(**kwargs) returns the network with a sigmoid applied to its two outputs.
Needs Python >= 3.10. No `from __future__ import annotations`: a dataclass then needs its
module in sys.modules, which loaders of files like this one do not always register.
"""

from dataclasses import dataclass

import torch
from torch import nn
'''


def architecture_source() -> str:
    """Standalone Python source of ``UNetNuclei``, taken from this package's own code."""
    parts = [inspect.getsource(obj) for obj in (UNetConfig, _block, UNet, UNetNuclei)]
    return "\n\n".join([_HEADER.format(callable=ARCHITECTURE_CALLABLE), *parts])


def architecture_kwargs(config: UNetConfig) -> dict[str, int]:
    """The JSON keyword arguments that rebuild ``config``'s network."""
    return {
        "in_channels": config.in_channels,
        "out_channels": config.out_channels,
        "base": config.base,
        "depth": config.depth,
    }


def load_architecture(source: Path, kwargs: dict) -> torch.nn.Module:
    """Import a written architecture file and build its network, as a consumer would."""
    spec = importlib.util.spec_from_file_location("bioimageio_unet_nuclei", source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, ARCHITECTURE_CALLABLE)(**kwargs)


def sigmoid_network(model: UNet) -> UNetNuclei:
    """A float32 eval-mode ``UNetNuclei`` holding ``model``'s weights."""
    net = UNetNuclei(**architecture_kwargs(model.config))
    net.load_state_dict(model.state_dict())
    return net.float().eval()


def synthetic_input(size: int, seed: int = 0) -> np.ndarray:
    """A synthetic float32 (1, 1, size, size) image with nuclei of about 16 px."""
    image, _ = synthetic_nuclei((size, size), radius=(6.5, 9.5), seed=seed)
    return image.astype(np.float32)[None, None]


def run_network(net: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    """The package's output for a raw (1, 1, y, x) input: percentile scaling, then ``net``."""
    x = torch.from_numpy(percentile_normalize(image[0, 0])[None, None])
    with torch.no_grad():
        return net(x).numpy().astype(np.float32)


def cover_image(image: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """A 2:1 RGB uint8 picture: the input (left) and the two outputs (right, magenta/green)."""
    grey = np.clip(percentile_normalize(image[0, 0]), 0, 1)
    fg, dist = np.clip(maps[0, 0], 0, 1), np.clip(maps[0, 1], 0, 1)
    left = np.stack([grey] * 3, axis=-1)
    right = np.stack([fg, dist, fg], axis=-1)
    return (np.concatenate([left, right], axis=1) * 255).round().astype(np.uint8)


_USAGE = """## Using this model outside napari
- **Input** `image`: one grey channel, axes batch, channel, y, x; sides of {min} + n × {step} px.
  The package's preprocessing scales the {low:g}–{high:g}th percentiles of each image to 0–1, the
  rule of napari-unet-nuclei. Two more steps of the plugin are **not** described by the
  package, and consumers must do them themselves:
  1. colour images are averaged to grey, and images whose nuclei are darker than the
     background (brightfield, H&E stains: the median of the scaled image above 0.5) are
     inverted (1 − value) after scaling; stained slides rich in eosin (a mean eosin amount
     of `skimage.color.rgb2hed` of at least 0.045) are given as their haematoxylin amount
     (`rgb2hed` channel 0) instead, scaled the same way and not inverted;
  2. images are resampled so that nuclei are about **{diameter:g} px** across, the size the
     model was trained at (and the outputs resampled back).
- **Output** `maps`: two channels after a sigmoid, the input's size: 0 the nucleus
  foreground probability, 1 the distance to the nucleus border normalised to 1 at each
  nucleus centre. The plugin cuts the foreground at 0.5 and splits touching nuclei by a
  watershed of that mask on the distance map, seeded by its h-maxima (h = 0.1 after a
  Gaussian of σ = 1). Tiles should overlap by {halo} px (the halo).
- Weights: TorchScript, and a PyTorch state dict with its architecture (`{arch}`), float32.
"""


def finetune_card(meta: dict) -> str:
    """A Markdown table of a fine-tuned model's metadata (base, images, nuclei, steps, score)."""
    rows = [
        ("base model", meta.get("base", "?")),
        ("images", meta.get("images", "?")),
        ("nuclei", meta.get("nuclei", "?")),
        ("steps", meta.get("finetune_steps", "?")),
    ]
    if "holdout_ap50" in meta:
        rows.append(
            (
                "held-out AP@0.5 (base → fine-tuned)",
                f"{meta.get('base_holdout_ap50', float('nan')):.3f} → {meta['holdout_ap50']:.3f}",
            )
        )
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    return (
        "## Fine-tuning\nFine-tuned with `napari-unet-nuclei finetune` on the user's own "
        "labelled images; AP@0.5 is scored on a held-out band of those labels.\n\n"
        f"| | |\n|---|---|\n{table}\n"
    )


def documentation(name: str, description: str, meta: dict, card: str | None, sizes: dict) -> str:
    """The package's README.md: usage rules, the fine-tune card (if any), the model card."""
    parts = [
        f"# {name}\n\n{description}\n",
        _USAGE.format(
            **sizes, diameter=trained_diameter(meta), low=LOW_PERCENTILE, high=HIGH_PERCENTILE
        ),
    ]
    if "finetune_steps" in meta:
        parts.append(finetune_card(meta))
    if card:
        parts.append("#" + card if card.startswith("# ") else card)  # under the package title
    return "\n".join(parts)
