import pickle

import pytest
import torch

from napari_unet_nuclei._model import (
    UNet,
    UNetConfig,
    bundled_weights_path,
    load_model,
    save_weights,
)


def test_forward_shape_and_channels():
    model = UNet(UNetConfig(base=4, depth=2)).eval()
    with torch.inference_mode():
        out = model(torch.zeros(2, 1, 32, 48))
    assert out.shape == (2, 2, 32, 48)


def test_save_load_roundtrip(tmp_path):
    model = UNet(UNetConfig(base=4, depth=2)).eval()
    save_weights(model, tmp_path / "w.pt", {"note": "x"})
    loaded = load_model(str(tmp_path / "w.pt"))
    assert loaded.config == model.config
    assert loaded.meta == {"note": "x"}
    pairs = zip(model.state_dict().items(), loaded.state_dict().values(), strict=True)
    for (k, a), b in pairs:
        assert torch.allclose(a.float(), b.float(), atol=1e-2), k


def test_bundled_weights_load():
    assert bundled_weights_path().is_file()
    model = load_model()
    assert not model.training
    assert bundled_weights_path().stat().st_size < 10_000_000


def test_missing_weights_file_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(str(tmp_path / "nope.pt"))


def test_corrupt_weights_file_named(tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x00not a torch file")
    with pytest.raises(ValueError, match="corrupt.pt"):
        load_model(str(bad))


class Payload:
    """Unpickling this would run code; weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_weights_holding_objects_are_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    with evil.open("wb") as fh:
        pickle.dump({"state_dict": Payload()}, fh)
    torch.save({"state_dict": {}, "extra": Payload()}, tmp_path / "evil2.pt")
    for path in (evil, tmp_path / "evil2.pt"):
        with pytest.raises(ValueError, match="holds more than tensors|corrupt"):
            load_model(str(path))


def test_bundled_models_by_name():
    from napari_unet_nuclei._model import (
        MODEL_CHOICES,
        bundled_weights_path,
        load_model,
        weights_file,
    )

    assert weights_file(None) == weights_file("general") == bundled_weights_path()
    assert weights_file("stained").name == "unet_nuclei_stained.pt"
    assert weights_file("stained").is_file()
    assert {value for _, value in MODEL_CHOICES} == {"general", "stained"}
    general, stained = load_model("general"), load_model("stained")
    assert general.config == stained.config and stained.meta["diameter"] == 16
    assert not all(
        torch.equal(a, b)
        for a, b in zip(general.state_dict().values(), stained.state_dict().values(), strict=True)
    )
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        load_model("no-such-model")


@pytest.mark.parametrize(
    "change",
    [
        {"config": [4, 2]},
        {"config": {"base": 4, "depth": 2, "width": 3}},
        {"config": {"base": "4", "depth": 2}},
        {"meta": ["diameter", 16]},
        {"meta": {"diameter": "16 px"}},
        {"meta": {"diameter": 0.0}},
        {"state_dict": [1, 2]},
    ],
)
def test_weights_of_an_unexpected_shape_are_a_value_error(tmp_path, change):
    """Issue 23, 8: config or meta of another type or key was a TypeError (a traceback)."""
    from napari_unet_nuclei import NucleusModel

    model = UNet(UNetConfig(base=4, depth=2))
    save_weights(model, tmp_path / "w.pt", {"diameter": 16.0})
    blob = {**torch.load(tmp_path / "w.pt", weights_only=True), **change}
    torch.save(blob, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="odd.pt"):
        load_model(str(tmp_path / "odd.pt"))
    with pytest.raises(ValueError, match="odd.pt"):
        NucleusModel(str(tmp_path / "odd.pt"), "cpu")
