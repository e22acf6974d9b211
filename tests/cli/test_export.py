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
