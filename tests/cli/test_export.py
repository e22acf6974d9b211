"""``napari-unet-nuclei export`` (``_cli_export``): one line for a bad weights file."""

from __future__ import annotations

import pytest

from napari_unet_nuclei.cli import app as cli


@pytest.mark.parametrize("content", [None, b"not a weights file"])
def test_missing_or_corrupt_weights_give_one_line(tmp_path, capsys, content):
    weights = tmp_path / "model.pt"
    if content is not None:
        weights.write_bytes(content)
    assert cli.main(["export", str(weights), str(tmp_path / "out.zip")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob(".*"))


def test_export_never_writes_into_the_package(tmp_path, tiny_weights, capsys, monkeypatch):
    """Issue 23, 5: `export` refused inside the installed package, as `train` is."""
    from napari_unet_nuclei import _outputs

    weights = tmp_path / "site-packages" / "napari_unet_nuclei" / "weights"
    weights.mkdir(parents=True)
    folders = (weights.parent, weights)
    monkeypatch.setattr(_outputs, "package_folders", lambda: folders, raising=False)
    assert cli.main(["export", tiny_weights, str(weights / "p.zip")]) == 2
    assert "installed package" in capsys.readouterr().err
    assert list(weights.iterdir()) == []


@pytest.mark.parametrize("change", [{"config": [4, 2]}, {"config": {"base": 4, "wide": 1}}])
def test_weights_of_an_unexpected_shape_give_one_line(tmp_path, tiny_weights, capsys, change):
    """Issue 23, 8: a config of the wrong type or with an unknown key: exit 2, one line."""
    import torch

    torch.save({**torch.load(tiny_weights, weights_only=True), **change}, tmp_path / "odd.pt")
    assert cli.main(["export", str(tmp_path / "odd.pt"), str(tmp_path / "out.zip")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["odd.pt"]
