"""Follow nuclei over time: a time-lapse keeps each nucleus's id, with a Tracks layer beside."""

from __future__ import annotations

import csv
import threading

import numpy as np
from _timelapse import image_of, predicted_links, shuffled, synthetic_movie, truth_links
from napari.layers import Labels, Tracks

from napari_unet_nuclei import _engine
from napari_unet_nuclei._prediction import Segmentation
from napari_unet_nuclei._qt import _tracks

from ._helpers import run_and_wait


def movie_widget(make_napari_viewer, new_widget, movie):
    viewer = make_napari_viewer()
    viewer.add_image(image_of(movie.labels), name="movie")
    widget = new_widget(viewer)
    widget._tracks.follow.value = True
    return viewer, widget


def the(viewer, kind):
    found = [layer for layer in viewer.layers if isinstance(layer, kind)]
    assert len(found) == 1
    return found[0]


def test_ids_are_kept_across_frames_and_a_tracks_layer_appears(
    qtbot, make_napari_viewer, new_widget, monkeypatch, tmp_path
):
    movie = synthetic_movie(frames=12, size=(128, 128), nuclei=9, divisions=2, seed=5)
    segmented = shuffled(movie.labels)  # what a segmentation gives: new ids in every frame
    fake = lambda self, stack, **options: Segmentation(segmented, None, "stack")  # noqa: E731
    monkeypatch.setattr(_engine.NucleusModel, "segment", fake)
    viewer, widget = movie_widget(make_napari_viewer, new_widget, movie)
    assert widget.whole_stack(widget._image.value)  # the checkbox asks for every frame
    run_and_wait(qtbot, widget)
    labels = the(viewer, Labels)
    truth = truth_links(movie.labels, movie.parents)
    parents = labels.metadata["track_parents"]
    made = predicted_links(movie.labels, np.asarray(labels.data), parents)
    share = len(truth & made) / len(truth)
    print(f"widget tracking: {share:.4f} of {len(truth)} true links kept")
    assert share >= 0.98 and len(made - truth) <= 1
    tracks = the(viewer, Tracks)
    sightings = sum(len(np.unique(plane)) - 1 for plane in movie.labels)
    assert tracks.name == "movie tracks" and len(tracks.data) == sightings  # a row each
    assert {d: list(m) for d, m in tracks.graph.items()} == {d: [m] for d, m in parents.items()}
    assert set(np.unique(tracks.data[:, 0]).astype(int)) == set(np.unique(labels.data)[1:].tolist())
    assert "followed over 12 frames" in widget._status.value
    saved = widget.save_to(str(tmp_path / "movie_nuclei.tif"), widget._image.value, labels)
    with saved[1].open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert {"plane", "track_id", "parent_track_id"} <= set(table[0])
    daughters = {int(r["track_id"]): int(r["parent_track_id"]) for r in table}
    assert {d: m for d, m in daughters.items() if m} == parents


def test_a_real_run_tracks_in_the_worker_and_untracked_runs_drop_the_tracks(
    qtbot, make_napari_viewer, new_widget, monkeypatch
):
    movie = synthetic_movie(frames=6, size=(128, 128), nuclei=6, divisions=1, seed=6)
    viewer, widget = movie_widget(make_napari_viewer, new_widget, movie)
    on_main = []
    real = _tracks.track_nuclei

    def recording(labels):
        on_main.append(threading.current_thread() is threading.main_thread())
        return real(labels)

    monkeypatch.setattr(_tracks, "track_nuclei", recording)
    run_and_wait(qtbot, widget)  # the tiny test model: labels, then tracking, in the worker
    assert on_main == [False], "tracking ran in the worker, never on the event loop"
    labels = the(viewer, Labels)
    assert labels.data.shape == movie.labels.shape and labels.data.max() > 0
    tracks = the(viewer, Tracks)
    assert set(tracks.data[:, 1].astype(int)) <= set(range(6))
    widget._tracks.follow.value = False
    widget._stack_mode.value = "Whole stack"
    run_and_wait(qtbot, widget)  # new ids per frame: the tracks no longer apply
    assert not [layer for layer in viewer.layers if isinstance(layer, Tracks)]
    assert "track_parents" not in the(viewer, Labels).metadata
