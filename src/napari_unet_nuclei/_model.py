"""The U-Net and a cached, safe loader for bundled or user weights.

The network maps one normalised grey channel to two logits per pixel:
channel 0 is the nucleus foreground, channel 1 the distance to the nucleus
border normalised to 1 at each nucleus centre (the watershed's guide).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ._outputs import SOFTWARE, Replace, package_folders

__all__ = ["package_folders"]  # one rule for where nothing is written: ``_outputs``
WEIGHTS_FILE = "unet_nuclei.pt"
# Bundled models by name: "general" (the default) and one tuned for stained (H&E) tissue.
BUNDLED_MODELS = {"general": WEIGHTS_FILE, "stained": "unet_nuclei_stained.pt"}
# The metadata read by the plugin and its export, with the type each must have.
META_TYPES = {
    "diameter": float,
    "base": str,
    "images": int,
    "nuclei": int,
    "finetune_steps": int,
    "holdout_ap50": float,
    "base_holdout_ap50": float,
}
MODEL_CHOICES = [("General (fluorescence)", "general"), ("Stained tissue (H&E)", "stained")]


@dataclass(frozen=True)
class UNetConfig:
    """Architecture hyper-parameters, stored beside the weights."""

    in_channels: int = 1
    out_channels: int = 2
    base: int = 16
    depth: int = 4

    @property
    def stride(self) -> int:
        """Input sizes must be a multiple of this."""
        return 2**self.depth


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A plain U-Net: max-pool down, transposed-conv up, concatenated skips."""

    def __init__(self, config: UNetConfig = UNetConfig()) -> None:
        super().__init__()
        self.config = config
        widths = [config.base * 2**i for i in range(config.depth + 1)]
        self.down = nn.ModuleList()
        cin = config.in_channels
        for w in widths:
            self.down.append(_block(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(w * 2, w, 2, stride=2))
            self.merge.append(_block(w * 2, w))
        self.head = nn.Conv2d(widths[0], config.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def fused_for_inference(model: UNet) -> UNet:
    """A copy with every BatchNorm folded into the convolution before it (eval only)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = UNet(model.config)
    fused.load_state_dict(model.state_dict())
    fused.eval()
    for block in list(fused.down) + list(fused.merge):
        for i in (0, 3):
            block[i] = fuse_conv_bn_eval(block[i], block[i + 1])
            block[i + 1] = nn.Identity()
    fused.meta = getattr(model, "meta", {})  # type: ignore[attr-defined]
    return fused


def bundled_weights_path(name: str = "general") -> Path:
    """The weights file shipped inside the package (``napari_unet_nuclei.weights``) for ``name``."""
    return Path(str(resources.files(f"{__package__}.weights") / BUNDLED_MODELS[name]))


def weights_file(weights: str | None) -> Path:
    """The file to load: bundled for None or a bundled model's name, else the path given."""
    if not weights:
        return bundled_weights_path()
    return bundled_weights_path(weights) if weights in BUNDLED_MODELS else Path(weights)


def save_weights(
    model: UNet, path: str | Path, meta: dict | None = None, replace: Replace = "ours"
) -> None:
    """Write half-precision tensors plus plain-data metadata (safe to load), marked as ours.

    ``replace``: an existing ``path`` is replaced only when it is weights of ours ("ours"),
    never ("new"); see ``_outputs.publish``.
    """
    state = {
        k: v.detach().cpu().half() if v.is_floating_point() else v.cpu()
        for k, v in model.state_dict().items()
    }
    from ._outputs import atomic_path

    blob = {"config": asdict(model.config), "state_dict": state, "meta": meta or {}}
    with atomic_path(path, replace) as tmp:  # readers never see a half-written file
        torch.save({**blob, "software": SOFTWARE}, tmp)


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"Weights file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or one holding arbitrary objects
        raise ValueError(
            f"Cannot read weights file {path}: it is corrupt or holds "
            f"more than tensors ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ValueError(f"Weights file {path} is not a napari-unet-nuclei weights file")
    problem = _checkpoint_problem(blob)
    if problem:
        raise ValueError(f"Weights file {path} is not a napari-unet-nuclei weights file: {problem}")
    return blob


def _is_a(value: object, kind: type) -> bool:
    """A str, or a finite non-negative number of ``kind`` (an int passes as a float)."""
    if kind is str or isinstance(value, bool):
        return isinstance(value, str)
    if not isinstance(value, (int, float) if kind is float else int):
        return False
    return 0 <= value < float("inf")


def _checkpoint_problem(blob: dict) -> str | None:
    """What is wrong with a checkpoint's config, meta or tensors (None: nothing)."""
    config, meta, state = blob.get("config", {}), blob.get("meta", {}), blob["state_dict"]
    names = {f.name for f in fields(UNetConfig)}
    if not isinstance(config, dict):
        return f"its config is a {type(config).__name__}, not a mapping"
    unknown = sorted(map(str, set(config) - names))
    if unknown:
        return f"its config has unknown keys {', '.join(unknown)}"
    if any(type(v) is not int or not 1 <= v <= 4096 for v in config.values()):
        return f"its config holds values that are not positive whole numbers: {config}"
    if config.get("depth", 1) > 10:
        return f"its config asks for a depth of {config['depth']} (at most 10)"
    if not isinstance(meta, dict):
        return f"its meta is a {type(meta).__name__}, not a mapping"
    wrong = [k for k, kind in META_TYPES.items() if k in meta and not _is_a(meta[k], kind)]
    wrong += ["diameter"] if meta.get("diameter", 1) == 0 else []
    if wrong:
        return f"its meta has values of the wrong type for {', '.join(wrong)}"
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        return "its state_dict is not a mapping of names to tensors"
    return None


def load_model(path: str | None = None) -> UNet:
    """Load weights (a file, a bundled model's name, None: the default) in eval mode on the CPU."""
    file = weights_file(path)
    blob = _read_checkpoint(file)
    model = UNet(UNetConfig(**blob.get("config", {})))
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"Weights in {file} do not fit the U-Net: {exc}") from exc
    model.meta = blob.get("meta", {})  # type: ignore[attr-defined]
    return model.eval()


def average_weights(first: str, second: str, share: float) -> UNet:
    """The weights ``(1 - share) * first + share * second`` (batch-norm statistics too).

    Both must have one architecture; meant for a model and a fine-tuned copy of it (their
    weights lie in one basin), where the average keeps much of what each is good at.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must lie in [0, 1], got {share}")
    a, b = load_model(first), load_model(second)
    if a.config != b.config:
        raise ValueError(f"{first} and {second} differ in architecture: {a.config} vs {b.config}")
    other = b.state_dict()
    mixed = {
        k: torch.lerp(v, other[k], share) if v.is_floating_point() else other[k]
        for k, v in a.state_dict().items()
    }
    a.load_state_dict(mixed)
    a.meta = {  # type: ignore[attr-defined]
        **b.meta,  # type: ignore[attr-defined]
        "average": {"first": str(first), "second": str(second), "share": share},
    }
    return a


def user_models_dir() -> Path:
    """The folder of the user's own (fine-tuned or loaded) models: the user data folder."""
    import platformdirs

    return Path(platformdirs.user_data_dir("napari-unet-nuclei")) / "models"


def user_models() -> list[tuple[str, str]]:
    """(label, path) of the models in ``user_models_dir()``, newest first."""
    folder = user_models_dir()
    files = (
        sorted(folder.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
        if folder.is_dir()
        else []
    )
    return [(f"{p.stem} (yours)", str(p)) for p in files]
