"""bioimage.io export: a valid package (offline), faithful weights, never over a file."""

import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_unet_nuclei._inference import predict_normalized
from napari_unet_nuclei._model import UNet, UNetConfig, load_model, save_weights
from napari_unet_nuclei._normalize import percentile_normalize
from napari_unet_nuclei.cli import app as cli
from napari_unet_nuclei.export.files import load_architecture
from napari_unet_nuclei.export.package import export_bioimageio, validate_package

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
SIZE = 144  # the smallest input the package allows (stride 16, halo 64)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled general model, exported with a small test image."""
    return export_bioimageio(
        "general", tmp_path_factory.mktemp("pkg") / "general.zip", test_size=SIZE
    )


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model with a fine-tune card, exported."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("mine")
    save_weights(
        UNet(UNetConfig(base=4, depth=2)).eval(),
        folder / "mine.pt",
        {
            "diameter": 16.0,
            "base": "/home/someone/models/mine-v1.pt",
            "images": 2,
            "nuclei": 31,
            "finetune_steps": 80,
            "holdout_ap50": 0.71,
            "base_holdout_ap50": 0.64,
        },
    )
    return export_bioimageio(folder / "mine.pt", folder / "mine.zip", test_size=SIZE)


@pytest.fixture(scope="module")
def unpacked(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(package) as zf:
        zf.extractall(folder)
    return folder


def _rdf(folder: Path) -> dict:
    import yaml

    return yaml.safe_load((folder / "rdf.yaml").read_text(encoding="utf-8"))


def _no_network(*args: object, **kwargs: object) -> None:
    raise OSError("network access during an offline validation")


@pytest.mark.parametrize("which", [pytest.param("package", marks=pytest.mark.slow), "finetuned"])
def test_packages_validate_offline(which, request, monkeypatch):
    pytest.importorskip(
        "bioimageio.spec",
        reason="bioimageio.spec (the 'export' extra) "
        "is not installed: the package cannot be validated",
    )
    path = request.getfixturevalue(which)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    assert validate_package(path) is None


@pytest.mark.slow
def test_package_describes_the_network(unpacked):
    rdf = _rdf(unpacked)
    assert rdf["format_version"].startswith("0.5") and rdf["type"] == "model"
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript"}
    assert rdf["inputs"][0]["preprocessing"][0]["kwargs"]["max_percentile"] == 99.8
    assert rdf["outputs"][0]["axes"][2]["halo"] % 16 == 0
    assert "Model card" in (unpacked / "README.md").read_text(encoding="utf-8")
    assert np.load(unpacked / "test_output.npy").shape == (1, 2, SIZE, SIZE)


def _network(norm: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(load_model("general")(torch.from_numpy(norm[None, None]))).numpy()


@pytest.mark.slow
def test_torchscript_reproduces_the_network(unpacked):
    raw = np.load(unpacked / "test_input.npy")
    norm = percentile_normalize(raw[0, 0])
    scripted = torch.jit.load(str(unpacked / "weights_torchscript.pt"), map_location="cpu")
    with torch.no_grad():
        out = scripted(torch.from_numpy(norm[None, None])).numpy()
    np.testing.assert_allclose(out, _network(norm), atol=1e-5)
    np.testing.assert_allclose(out, np.load(unpacked / "test_output.npy"), atol=1e-5)


@pytest.mark.slow
def test_plugin_agrees_beyond_the_halo(unpacked):
    norm = percentile_normalize(np.load(unpacked / "test_input.npy")[0, 0])
    plugin = predict_normalized(norm, load_model("general"), torch.device("cpu"))
    halo = _rdf(unpacked)["outputs"][0]["axes"][2]["halo"]
    inner = (slice(None), slice(halo, -halo), slice(halo, -halo))
    np.testing.assert_allclose(plugin[inner], _network(norm)[0][inner], atol=0.05)


@pytest.mark.slow
def test_state_dict_loads_into_the_architecture_file(unpacked):
    entry = _rdf(unpacked)["weights"]["pytorch_state_dict"]
    net = load_architecture(
        unpacked / entry["architecture"]["source"], entry["architecture"]["kwargs"]
    )
    state = torch.load(unpacked / entry["source"], map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    norm = percentile_normalize(np.load(unpacked / "test_input.npy")[0, 0])
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(norm[None, None])).numpy()
    np.testing.assert_allclose(out, np.load(unpacked / "test_output.npy"), atol=1e-5)


def test_finetuned_model_carries_its_card(finetuned):
    with zipfile.ZipFile(finetuned) as zf:
        readme = zf.read("README.md").decode()
        assert "0.640 → 0.710" in readme and "| nuclei | 31 |" in readme
        rdf = zf.read("rdf.yaml").decode()
        assert "mine-v1.pt" in rdf and "/home/someone" not in rdf + readme


def test_existing_output_is_refused(tmp_path, capsys):
    out = tmp_path / "taken.zip"
    out.write_bytes(b"user's file")
    with pytest.raises(FileExistsError):
        export_bioimageio("general", out, test_size=SIZE)
    assert cli.main(["export", "general", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"user's file"


@pytest.mark.slow
def test_bioimageio_core_reproduces_the_test_output(package):
    core = pytest.importorskip(
        "bioimageio.core",
        reason="bioimageio.core is not installed: "
        "the package is not run the way bioimage.io consumers run it",
    )
    summary = core.test_model(str(package))
    assert summary.status == "passed", summary.format()


# Issue 23: two exports at once, a user's file named like a temporary, an invalid package.


def _export_process(weights: str, output: Path) -> subprocess.CompletedProcess:
    """``napari-unet-nuclei export`` as another process."""
    import napari_unet_nuclei

    src = str(Path(napari_unet_nuclei.__file__).parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "napari_unet_nuclei.cli", "export", weights, str(output)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow  # a child process (or several): seconds each
def test_two_exports_at_once_leave_one_whole_package(tmp_path, tiny_weights, monkeypatch):
    """1: the other export runs to its end while this one zips: no corrupt zip, one says so."""
    from napari_unet_nuclei.export import package as export_package

    out, real, other = tmp_path / "pkg.zip", export_package._zip, []

    def other_export_meanwhile(folder, target):
        real(folder, target)
        other.append(_export_process(tiny_weights, out))

    monkeypatch.setattr(export_package, "_zip", other_export_meanwhile)
    with pytest.raises(ValueError, match="appeared while"):
        export_bioimageio(tiny_weights, out)
    assert other[0].returncode == 0, other[0].stderr
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None and "rdf.yaml" in zf.namelist()
    assert [p.name for p in tmp_path.iterdir()] == ["pkg.zip"]


def test_a_users_file_named_like_the_old_temporary_is_kept(tmp_path, tiny_weights):
    """3: `.<name>.partial` was taken over and then renamed away."""
    mine = tmp_path / ".pkg.zip.partial"
    mine.write_bytes(b"the user's file")
    export_bioimageio(tiny_weights, tmp_path / "pkg.zip")
    assert mine.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pkg.zip.partial", "pkg.zip"]


def test_an_invalid_package_is_not_left_on_disk(tmp_path, tiny_weights, capsys, monkeypatch):
    """8: the validator's verdict comes before the package takes its name."""
    from napari_unet_nuclei.export import package as export_package

    monkeypatch.setattr(export_package, "validate_package", lambda path: "rdf.yaml: bad\nmore")
    assert cli.main(["export", tiny_weights, str(tmp_path / "pkg.zip")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "rdf.yaml: bad" in err, err
    assert list(tmp_path.iterdir()) == []
