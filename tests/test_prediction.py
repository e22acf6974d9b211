"""``Prediction``: cached maps re-labelled without the network."""

from __future__ import annotations

from napari_unet_nuclei import predict


def test_labels_are_fresh_arrays_even_when_cached(tiny_weights, synthetic):
    pred = predict(synthetic[0][:64, :64], "cpu", tiny_weights, diameter=None)
    a = pred.labels(0.3)
    a[:] = 7
    b = pred.labels(0.3)
    assert not (b == 7).all()
