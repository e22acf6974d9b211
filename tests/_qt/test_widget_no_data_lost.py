"""Widget saving never replaces the file the image was opened from (issue 10, rule 1)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from napari.layers import Labels
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_unet_nuclei._sample_data import synthetic_nuclei

from ._helpers import PLUGIN, on_cpu, run_and_wait


@pytest.fixture
def opened(make_napari_viewer, tmp_path, tiny_weights):
    """A viewer holding an image opened from a file, the docked widget and that file."""
    path = tmp_path / "raw.tif"
    tifffile.imwrite(path, synthetic_nuclei((128, 128), seed=5)[0])
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment nuclei")
    return viewer, on_cpu(widget, tiny_weights), path


def test_save_labels_over_the_opened_image_is_refused(qtbot, opened):
    viewer, widget, path = opened
    before = path.read_bytes()
    run_and_wait(qtbot, widget)
    labels = [layer for layer in viewer.layers if isinstance(layer, Labels)][0]
    assert widget.save_to(str(path), widget._image.value, labels) == []
    assert path.read_bytes() == before
    errors = [
        n.message for n in notification_manager.records if n.severity == NotificationSeverity.ERROR
    ]
    assert "would replace the input" in errors[-1]
    assert sorted(p.name for p in path.parent.iterdir()) == ["raw.tif"]


def test_save_selected_layers_over_the_opened_image_is_refused(qtbot, opened):
    viewer, widget, path = opened
    before = path.read_bytes()
    labels = viewer.add_labels(np.ones((128, 128), np.uint16))
    viewer.layers.selection = {labels}
    with pytest.raises(OSError, match="would replace the input"):
        viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    assert path.read_bytes() == before
