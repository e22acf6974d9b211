"""Saving (``_qt/_save.py``): the labels file and its CSV, beside each other.

Save labels… and File > Save Selected Layers; a stack saved with a per-plane CSV; the
file the image was opened from is never replaced (issue 10, rule 1); a missing folder,
a read-only location or a full disk is one clear error that leaves nothing behind.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from napari.layers import Labels
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_unet_nuclei import _widget
from napari_unet_nuclei._qt._save import save_target
from napari_unet_nuclei._sample_data import synthetic_nuclei

from ._helpers import PLUGIN, messages, n_labels, on_cpu, only_labels, run_and_wait


def test_save_target_adds_tif_without_overwriting(tmp_path):
    assert save_target(str(tmp_path / "a.PNG")) == tmp_path / "a.PNG"
    assert save_target(str(tmp_path / "a.tiff")) == tmp_path / "a.tiff"
    assert save_target(str(tmp_path / "nuclei")) == tmp_path / "nuclei.tif"
    (tmp_path / "nuclei.tif").write_bytes(b"mine")
    assert save_target(str(tmp_path / "nuclei")) == tmp_path / "nuclei-2.tif"


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_save_button_writes_labels_and_csv(qtbot, docked, tmp_path, monkeypatch, suffix):
    import tifffile
    from imageio.v3 import imread

    run_and_wait(qtbot, docked)
    target = tmp_path / f"nuclei{suffix}"
    (tmp_path / "nuclei_measurements.csv").write_text("keep me")
    monkeypatch.setattr(
        _widget.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    docked._save.native.click()
    labels = np.asarray(only_labels(docked._viewer).data)
    back = tifffile.imread(target) if suffix == ".tif" else imread(target)
    assert np.array_equal(back, labels)
    assert (tmp_path / "nuclei_measurements.csv").read_text() == "keep me"  # never overwritten
    rows = (tmp_path / "nuclei_measurements-2.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + n_labels(only_labels(docked._viewer))


def test_file_save_selected_layers_writes_imagej_tiff(qtbot, docked, tmp_path):
    import tifffile

    run_and_wait(qtbot, docked)
    viewer = docked._viewer
    viewer.layers.selection = {only_labels(viewer)}
    [path] = viewer.layers.save(
        str(tmp_path / "nuclei.tif"), selected=True, plugin="napari-unet-nuclei"
    )
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert np.array_equal(tif.asarray(), np.asarray(only_labels(viewer).data))


def test_stack_labels_save_as_tiff_stack_with_per_plane_csv(qtbot, stack_widget, tmp_path):
    import tifffile

    viewer, widget = stack_widget()
    widget._stack_mode.value = _widget.WHOLE_STACK
    run_and_wait(qtbot, widget)
    layer = only_labels(viewer)
    saved = widget.save_to(str(tmp_path / "stack.tif"), widget._image.value, layer)
    assert [p.name for p in saved] == ["stack.tif", "stack_measurements.csv"]
    assert np.array_equal(tifffile.imread(saved[0]), np.asarray(layer.data))
    rows = saved[1].read_text().strip().splitlines()
    assert len(rows) == 1 + n_labels(layer) and rows[0].endswith("plane")


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


def _save_fails(docked, path, *reasons: str) -> None:
    """Save to ``path``: an error notification naming it; layer, status and files untouched."""
    layer = [lay for lay in docked._viewer.layers if isinstance(lay, Labels)][0]
    before, status = np.asarray(layer.data).copy(), docked._status.value
    errors = len(messages(NotificationSeverity.ERROR))
    assert docked.save_to(str(path), docked._image.value, layer) == []
    new = messages(NotificationSeverity.ERROR)[errors:]
    assert len(new) == 1
    said, why = new[0].rsplit(": ", 1)
    assert said == f"Could not save the labels: cannot write {path}" and why in reasons
    assert np.array_equal(np.asarray(layer.data), before)
    assert docked._status.value == status


def test_missing_folder_is_a_clear_error_and_the_layer_is_untouched(qtbot, docked, tmp_path):
    run_and_wait(qtbot, docked)
    _save_fails(docked, tmp_path / "missing" / "deeper" / "nuclei.tif", "No such file or directory")
    assert not (tmp_path / "missing").exists()


def test_read_only_location_is_a_clear_error(qtbot, docked, read_only_dir):
    run_and_wait(qtbot, docked)
    _save_fails(
        docked,
        read_only_dir / "nuclei.tif",
        "Permission denied",
        "Read-only file system",
        "Operation not permitted",
        "No such file or directory",
    )
    assert not (read_only_dir / "nuclei.tif").exists()


def test_full_disk_is_a_clear_error_and_leaves_no_file(qtbot, docked, tmp_path, full_disk):
    run_and_wait(qtbot, docked)
    full_disk(2_000)
    _save_fails(docked, tmp_path / "nuclei.tif", "No space left on device")
    assert list(tmp_path.iterdir()) == []
