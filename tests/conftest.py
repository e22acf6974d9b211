"""Shared fixtures: tiny random U-Nets and synthetic images, made on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_unet_nuclei._model import UNet, UNetConfig, save_weights
from napari_unet_nuclei._synthetic import synthetic_nuclei

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dsb2018_train"


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random-initialised depth-2 U-Net (receptive field < the default halo)."""
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=4, depth=2)).eval()
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_weights(model, path)
    return str(path)


@pytest.fixture(scope="session")
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    """A 256x256 uint16 synthetic image and its labels."""
    return synthetic_nuclei((256, 256), seed=7)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The DSB2018 folder beside the project; skips when it is absent."""
    if not (DATA_DIR / "index.tsv").is_file():
        pytest.skip(f"DSB2018 data not found at {DATA_DIR} (needs ../shared/data)")
    return DATA_DIR
