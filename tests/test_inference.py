import gc
import weakref

import numpy as np
import pytest
import torch

from napari_unet_nuclei import predict
from napari_unet_nuclei._inference import image_border, tile_windows
from napari_unet_nuclei._scale import scaled_shape
from napari_unet_nuclei._tiling import tile_grid


def test_tiled_equals_whole_image(tiny_weights, synthetic):
    image = synthetic[0][:200, :232]  # at its own scale: the tiles, not the size estimate
    whole = predict(image, device="cpu", weights=tiny_weights, diameter=None, tile_size=1024)
    tiled = predict(
        image, device="cpu", weights=tiny_weights, diameter=None, tile_size=64, batch_size=3
    )
    np.testing.assert_allclose(tiled.foreground, whole.foreground, atol=1e-4)
    np.testing.assert_allclose(tiled.distance, whole.distance, atol=1e-4)


def test_tile_grid_covers_the_image_once_with_equal_tiles():
    grid = tile_grid((96, 160), 64, 16)
    cover = np.zeros((96, 160), int)
    for y, x, th, tw in grid:
        assert (th, tw) == (48, 64)
        cover[y : y + th, x : x + tw] += 1
    assert cover.min() >= 1


def test_a_thin_border_on_large_images_only():
    assert image_border((1024, 1024), 64) == image_border((512, 4000), 64) == 16
    assert image_border((256, 320), 64) == image_border((511, 4000), 64) == 64
    assert image_border((1024, 1024), 0) == 0  # never more than the halo


def test_an_image_in_one_tile_is_computed_at_its_size_plus_two_borders():
    [[(window, tile, offset)]] = tile_windows((1024, 1024), 1024, 16, halo=64, border=16)
    assert [w.stop - w.start for w in window] == [1056, 1056]  # not 1152: 16 % of the work
    assert tile == (0, 0, 1024, 1024) and offset == (16, 16)


@pytest.mark.parametrize(("halo", "border"), [(32, 16), (32, 32), (64, 0)])
def test_windows_reach_the_halo_into_neighbours_and_the_border_past_the_edge(halo, border):
    shape = (96, 160)
    batches = tile_windows(shape, 64, 16, halo=halo, border=border, batch_size=2)
    cover = np.zeros(shape, int)
    for batch in batches:
        assert len({tuple(w.stop - w.start for w in window) for window, _, _ in batch}) == 1
        for window, (y, x, th, tw), (oy, ox) in batch:
            for w, start, size, offset, length in zip(
                window, (y, x), (th, tw), (oy, ox), shape, strict=True
            ):
                first, last = w.start - border, w.stop - border  # in image coordinates
                assert first + offset == start  # the tile sits at its offset in the window
                assert first == max(start - halo, -border)  # halo inside, border past 0
                assert last == min(start + size + halo, length + border)
            cover[y : y + th, x : x + tw] += 1
    assert cover.min() >= 1


@pytest.mark.parametrize("shape", [(1, 1), (3, 500), (37, 53), (64, 64)])
def test_any_size_gives_maps_of_the_same_size(tiny_weights, shape):
    """Labels of the image's size; maps too, or on the network's grid when the image was
    enlarged more than 2x for it (noise can look like tiny nuclei)."""
    pred = predict(np.random.default_rng(0).random(shape), device="cpu", weights=tiny_weights)
    assert pred.shape == shape and pred.labels().shape == shape
    grid = scaled_shape(shape, pred.info["scale"]) if pred.grid != 1 else shape
    assert pred.foreground.shape == grid and pred.distance.shape == grid
    assert pred.foreground.dtype == np.float32
    assert 0 <= pred.foreground.min() and pred.foreground.max() <= 1


@pytest.mark.parametrize(
    "dtype",
    [
        np.uint8,
        np.uint16,
        np.uint32,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.float16,
        np.float32,
        np.float64,
        bool,
    ],
)
def test_dtypes_are_accepted(tiny_weights, synthetic, dtype):
    image = synthetic[0][:64, :64]
    image = image > image.mean() if dtype is bool else (image / image.max() * 200).astype(dtype)
    labels = predict(image, device="cpu", weights=tiny_weights).labels()
    assert labels.shape == (64, 64) and labels.dtype == np.uint16


def test_rgb_and_rgba(tiny_weights, synthetic):
    grey = (synthetic[0][:64, :64] / 8).astype(np.uint8)
    rgb = np.stack([grey] * 3, -1)
    rgba = np.concatenate([rgb, np.full((64, 64, 1), 255, np.uint8)], -1)
    a, b, c = (predict(x, device="cpu", weights=tiny_weights).foreground for x in (grey, rgb, rgba))
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(b, c, atol=1e-5)


@pytest.mark.parametrize("shape", [(0, 10), (4, 5, 6, 7), (5, 5, 7)])
def test_unusable_shapes_are_clear_errors(tiny_weights, shape):
    with pytest.raises(ValueError, match="image"):
        predict(np.zeros(shape), device="cpu", weights=tiny_weights)


def test_progress_reports_every_tile_and_can_cancel(tiny_weights, synthetic):
    seen = []
    predict(
        synthetic[0],
        device="cpu",
        weights=tiny_weights,
        diameter=None,
        tile_size=64,
        batch_size=2,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (16, 16) and len(seen) == 8

    class Stop(Exception):
        pass

    def cancel(done, total):
        raise Stop

    with pytest.raises(Stop):
        predict(synthetic[0], device="cpu", weights=tiny_weights, tile_size=64, progress=cancel)


def test_input_is_not_modified(tiny_weights, synthetic):
    image = synthetic[0].copy()
    predict(image, device="cpu", weights=tiny_weights)
    np.testing.assert_array_equal(image, synthetic[0])


def test_tta_averages_flips(tiny_weights, synthetic):
    image = synthetic[0][:64, :96]
    plain = predict(image, device="cpu", weights=tiny_weights, diameter=None)
    tta = predict(image, device="cpu", weights=tiny_weights, diameter=None, tta=True)
    flipped = predict(image[:, ::-1], device="cpu", weights=tiny_weights, diameter=None)
    assert tta.foreground.shape == plain.foreground.shape
    assert not np.allclose(tta.foreground, plain.foreground)
    # flip-averaged maps are flip-equivariant
    tta_flipped = predict(
        image[:, ::-1], device="cpu", weights=tiny_weights, diameter=None, tta=True
    )
    np.testing.assert_allclose(tta_flipped.foreground[:, ::-1], tta.foreground, atol=1e-5)
    assert flipped.foreground.shape == plain.foreground.shape


def test_tiles_are_even_so_little_is_computed_twice():
    grid = tile_grid((2304, 1392), 1024, 16)
    sizes = {(th, tw) for _, _, th, tw in grid}
    assert sizes == {(768, 704)} and len(grid) == 6
    assert all(th % 16 == 0 and tw % 16 == 0 for th, tw in sizes)


def _most_batches_at_once(tiny_weights, synthetic, device: str, monkeypatch) -> int:
    """Two threads run ``predict_normalized`` on ``device``; the most batches in flight."""
    import threading
    import time

    import torch

    from napari_unet_nuclei import _inference
    from napari_unet_nuclei._model import load_model

    state = {"now": 0, "most": 0}
    guard = threading.Lock()

    def slow_forward(model, x, dev, tta, precision):  # stands in for the network on `dev`
        with guard:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with guard:
            state["now"] -= 1
        return torch.zeros((x.shape[0], model.config.out_channels, *x.shape[2:]))  # on the host

    monkeypatch.setattr(_inference, "_forward", slow_forward)
    model, image = load_model(tiny_weights), synthetic[0][:128, :128].astype(np.float32)
    start = threading.Barrier(2)

    def run():
        start.wait()
        _inference.predict_normalized(image, model, torch.device(device), tile=32, batch_size=1)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["most"]


def test_an_accelerator_runs_one_batch_at_a_time(tiny_weights, synthetic, monkeypatch):
    # images segmented side by side share a GPU one batch at a time (bounded GPU memory)
    assert _most_batches_at_once(tiny_weights, synthetic, "cuda", monkeypatch) == 1


def test_cpu_threads_run_their_batches_side_by_side(tiny_weights, synthetic, monkeypatch):
    assert _most_batches_at_once(tiny_weights, synthetic, "cpu", monkeypatch) == 2


def _versions(tmp_path, device: str, count: int) -> list:
    """Weak references to the ready models of ``count`` versions of one weights file.

    As a session that fine-tunes, saves over its model and reloads it makes them.
    """
    import os

    from napari_unet_nuclei import _inference
    from napari_unet_nuclei._model import UNet, UNetConfig, save_weights

    path, refs = tmp_path / "mine.pt", []
    for version in range(count):
        save_weights(UNet(UNetConfig(base=16, depth=4)), path)
        os.utime(path, ns=(version * 10**9, version * 10**9))  # a new file time per version
        refs.append(weakref.ref(_inference.model_on(device, str(path))[0]))
    return refs


def test_the_model_cache_keeps_a_few_models_only(tmp_path):
    """Issue 23, 10: every version of every weights file ever loaded was kept."""
    from napari_unet_nuclei import _inference
    from napari_unet_nuclei._model import UNet, UNetConfig, save_weights

    _inference._READY.clear()
    refs = _versions(tmp_path, "cpu", 6)
    gc.collect()
    assert [r() is not None for r in refs] == [False] * 5 + [True]  # the newest version only
    for n in range(6):  # other files: the most recent few stay ready
        save_weights(UNet(UNetConfig(base=4, depth=2)), tmp_path / f"other{n}.pt")
        refs.append(weakref.ref(_inference.model_on("cpu", str(tmp_path / f"other{n}.pt"))[0]))
    gc.collect()
    kept = getattr(_inference, "MAX_READY", 3)
    assert sum(r() is not None for r in refs) == len(_inference._READY) == kept
    _inference._READY.clear()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_models_dropped_from_the_cache_give_back_gpu_memory(tmp_path):
    """Issue 23, 10: a napari session that fine-tunes and reloads grew GPU memory unbounded."""
    from napari_unet_nuclei import _inference

    _inference._READY.clear()
    torch.cuda.empty_cache()
    _versions(tmp_path, "cuda", 1)
    one = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    _versions(tmp_path, "cuda", 8)
    after = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    _inference._READY.clear()
    assert after[0] <= 2 * one[0] and after[1] <= 2 * one[1], (one, after)
