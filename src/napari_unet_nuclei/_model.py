"""The U-Net and a cached, safe loader for bundled or user weights.

The network maps one normalised grey channel to two logits per pixel:
channel 0 is the nucleus foreground, channel 1 the distance to the nucleus
border normalised to 1 at each nucleus centre (the watershed's guide).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

WEIGHTS_FILE = "unet_nuclei.pt"
# Bundled models by name: "general" (the default) and one tuned for stained (H&E) tissue.
BUNDLED_MODELS = {"general": WEIGHTS_FILE, "stained": "unet_nuclei_stained.pt"}
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


def package_folders() -> tuple[Path, Path]:
    """The installed package and its weights folder: nothing is ever written into them."""
    return Path(__file__).parent, bundled_weights_path().parent


def weights_file(weights: str | None) -> Path:
    """The file to load: bundled for None or a bundled model's name, else the path given."""
    if not weights:
        return bundled_weights_path()
    return bundled_weights_path(weights) if weights in BUNDLED_MODELS else Path(weights)


def save_weights(model: UNet, path: str | Path, meta: dict | None = None) -> None:
    """Write half-precision tensors plus plain-data metadata (safe to load)."""
    state = {
        k: v.detach().cpu().half() if v.is_floating_point() else v.cpu()
        for k, v in model.state_dict().items()
    }
    from ._outputs import atomic_path

    with atomic_path(path) as tmp:  # readers never see a half-written file
        torch.save({"config": asdict(model.config), "state_dict": state, "meta": meta or {}}, tmp)


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
    return blob


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
