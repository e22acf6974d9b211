"""The npe2 manifest: valid, and the widget is in Layers > Segment as well as Plugins."""

from __future__ import annotations

from importlib import resources

import pytest

npe2 = pytest.importorskip("npe2")


def test_manifest_is_valid_and_puts_the_widget_in_layers_segment():
    manifest = npe2.PluginManifest.from_file(resources.files("napari_unet_nuclei") / "napari.yaml")
    widget = manifest.contributions.widgets[0].command
    segment_menu = manifest.contributions.menus["napari/layers/segment"]
    assert [item.command for item in segment_menu] == [widget]
    assert manifest.name == "napari-unet-nuclei"
