"""``napari-unet-nuclei average``: the weights of two models mixed, written safely."""

import pytest
import torch

from napari_unet_nuclei._model import UNet, UNetConfig, average_weights, load_model, save_weights
from napari_unet_nuclei.cli.app import main


@pytest.fixture
def other_weights(tiny_weights, tmp_path):
    """The tiny model with every float tensor shifted by +1 (a stand-in for a fine-tuned copy)."""
    model = load_model(tiny_weights)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t += 1.0
    path = tmp_path / "other.pt"
    save_weights(model, path, {"diameter": 16.0})
    return str(path)


def test_average_mixes_every_tensor(tiny_weights, other_weights):
    a, b = load_model(tiny_weights).state_dict(), load_model(other_weights).state_dict()
    mixed = average_weights(tiny_weights, other_weights, 0.25)
    for k, v in mixed.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.75 * a[k] + 0.25 * b[k], atol=1e-2), k
    assert mixed.meta["average"]["share"] == 0.25 and mixed.meta["diameter"] == 16.0
    assert torch.equal(
        average_weights(tiny_weights, other_weights, 0.0).state_dict()["head.weight"],
        a["head.weight"],
    )


def test_average_cli_writes_a_new_file_only(tiny_weights, other_weights, tmp_path, capsys):
    out = tmp_path / "mixed.pt"
    assert main(["average", tiny_weights, other_weights, "--output", str(out)]) == 0
    assert load_model(str(out)).meta["average"]["share"] == 0.5
    before = out.read_bytes()
    assert main(["average", tiny_weights, other_weights, "--output", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    first = open(tiny_weights, "rb").read()
    assert main(["average", tiny_weights, other_weights, "--output", tiny_weights]) == 2
    assert open(tiny_weights, "rb").read() == first  # an input is never replaced


def test_average_refuses_other_architectures_and_shares(tiny_weights, tmp_path, capsys):
    wide = tmp_path / "wide.pt"
    save_weights(UNet(UNetConfig(base=6, depth=2)), wide)
    assert main(["average", tiny_weights, str(wide), "--output", str(tmp_path / "x.pt")]) == 2
    assert "differ in architecture" in capsys.readouterr().err
    assert (
        main(
            [
                "average",
                tiny_weights,
                tiny_weights,
                "--share",
                "1.5",
                "--output",
                str(tmp_path / "y.pt"),
            ]
        )
        == 2
    )
    assert "share must lie in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "y.pt").exists()


def test_average_never_writes_into_the_bundled_weights_folder(tiny_weights, capsys):
    from napari_unet_nuclei._model import bundled_weights_path

    target = bundled_weights_path().parent / "mixed-by-a-test.pt"
    assert main(["average", tiny_weights, tiny_weights, "--output", str(target)]) == 2
    assert "inside the installed package" in capsys.readouterr().err and not target.exists()
