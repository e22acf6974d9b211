"""Issue 12: the nucleus-size estimate holds from ~8 to ~100 px and is not fooled by texture."""

import functools

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unet_nuclei import NucleusModel, Settings, predict
from napari_unet_nuclei._estimate import (
    MERGED_CONTRAST,
    MERGED_SHARE,
    central_view,
    foreground_between,
    view_side,
)
from napari_unet_nuclei._normalize import to_grey
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei._scale import (
    consistent_diameter,
    resize,
    resize_labels,
    scaled_shape,
    typical_diameter,
)
from napari_unet_nuclei.training.dataset import read_index, read_pair
from napari_unet_nuclei.training.metrics import match_counts

MODEL = 16.0
# ~60 nuclei: with ~30, AP moved by 0.08 between diameters 2 % apart on the textured 6x image
_NUCLEI = synthetic_nuclei((224, 224), radius=(6.0, 10.0), touching=0.2, seed=3)


def test_agreeing_passes_give_the_size():
    """Real 18 px nuclei: full and half scale measure the same; no coarser pass needed."""
    assert consistent_diameter([(1.0, 18.0), (0.5, 20.0)], MODEL) == pytest.approx(17, rel=0.1)


def test_texture_pieces_that_change_with_scale_are_not_the_size():
    """Pieces of 18 px at full scale, whole nuclei of ~100 px once the texture blurs away."""
    readings = [(1.0, 18.0), (0.5, 48.0), (0.25, 90.0), (0.125, 104.0), (0.0625, 120.0)]
    assert consistent_diameter(readings, MODEL) == pytest.approx(96, rel=0.1)


def test_no_agreement_falls_back_to_the_reading_nearest_the_model_size():
    # 200 px seen at a quarter scale are 50 px on that grid: nearer 16 than 60 px at full scale
    assert consistent_diameter([(1.0, 60.0), (0.5, None), (0.25, 200.0)], MODEL) == 200.0
    assert consistent_diameter([(1.0, None)], MODEL) is None
    assert consistent_diameter([], MODEL) is None


def test_readings_of_merged_nuclei_give_no_size():
    """547ef286 at 0.5x: the half-scale pass joined 10 px nuclei into clumps (29 px) that the
    quarter-scale pass confirms. Unflagged, that pair gives 27 px; flagged, the full-scale
    reading is left, and with a 2x reading the (2x, 1x) pair gives 8.7 px."""
    readings = [(1.0, 13.4), (0.5, 29.1), (0.25, 40.0)]
    assert consistent_diameter(readings, MODEL) == pytest.approx(27, rel=0.05)
    merged = frozenset({0.5})
    assert consistent_diameter(readings, MODEL, merged) == 13.4
    assert consistent_diameter([(2.0, 9.2), *readings], MODEL, merged) == pytest.approx(8.7)


def test_a_merged_pass_still_confirms_the_finer_one():
    """8f27ebc7 at 2x (stained, 37 px): the quarter-size pass merges a few nuclei but agrees
    with the half-size reading, which is right; without it the full-scale pieces win."""
    readings = [(1.0, 20.0), (0.5, 44.0), (0.25, 48.0)]
    assert consistent_diameter(readings, MODEL, frozenset({0.25})) == pytest.approx(42)


def _disks(shape, centres, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.any([(yy - y) ** 2 + (xx - x) ** 2 <= radius**2 for y, x in centres], axis=0)


def test_a_coarser_pass_that_fills_dark_gaps_merged_separate_nuclei():
    """Two nuclei 4 px apart on a dark background: the half-scale pass saw one object."""
    nuclei = _disks((64, 64), [(32, 22), (32, 42)], 8)
    image = nuclei.astype(np.float32)
    clump = _disks((32, 32), [(16, 11), (16, 16), (16, 21)], 4.5).astype(np.float32)
    share, contrast = foreground_between((image, nuclei.astype(np.float32)), clump)
    assert MERGED_SHARE <= share < 0.5
    assert contrast <= MERGED_CONTRAST


def test_texture_pieces_inside_a_nucleus_are_not_merged_nuclei():
    """Bright pieces inside a dimmer nucleus: what lies between them is not background."""
    nucleus = _disks((96, 96), [(48, 48)], 30)
    pieces = _disks((96, 96), [(38, 38), (58, 58), (38, 58), (58, 38)], 5)
    image = np.where(pieces, 1.0, np.where(nucleus, 0.5, 0.0)).astype(np.float32)
    coarse = _disks((48, 48), [(24, 24)], 15).astype(np.float32)
    share, contrast = foreground_between((image, pieces.astype(np.float32)), coarse)
    assert share >= 0.5  # fragments: most of the coarser foreground is outside them
    assert contrast == pytest.approx(0.5, abs=0.05)


def test_no_judgement_without_background():
    full = np.ones((64, 64), np.float32)
    assert foreground_between((full, full), np.ones((32, 32), np.float32)) is None


def _magnify(image: np.ndarray, labels: np.ndarray, zoom: float):
    shape = scaled_shape(labels.shape, zoom)
    return resize(image.astype(np.float32), shape), resize_labels(labels, shape)


def _chromatin(image: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Dim nuclei with 14-22 px texture blobs, one in eight very bright, camera noise."""
    rng = np.random.default_rng(seed)
    blobs = ndi.gaussian_filter(rng.standard_normal(image.shape), 4.0)
    texture = np.clip(1 + 0.6 * blobs / blobs.std(), 0.05, None)
    gain = np.where(rng.random(int(labels.max()) + 1) < 1 / 8, 4.0, 1.0)
    out = np.where(labels > 0, image * texture * gain[labels], image)
    return (out + rng.normal(0, 0.02 * image.max(), image.shape)).astype(np.float32)


def _ap(image: np.ndarray, truth: np.ndarray, diameter: float | str) -> tuple[float, float]:
    """(AP@0.5, diameter the size setting led to / true diameter)."""
    pred = predict(image, device="cpu", diameter=diameter)
    c = match_counts(truth, pred.labels(), (0.5,))[0]
    used = pred.info["estimate"] if diameter == "auto" else diameter
    return c.tp / (c.tp + c.fp + c.fn), used / typical_diameter(truth)


def _stained(image: np.ndarray) -> np.ndarray:
    """RGB uint8: dark purple nuclei on a bright pink background, as in H&E."""
    ink = image / image.max()
    return (255 * (1 - ink[..., None] * np.array([0.5, 0.7, 0.3]))).astype(np.uint8)


LOOKS = {
    "plain": lambda img, truth, zoom: img,
    "textured": lambda img, truth, zoom: _chromatin(img, truth, seed=int(zoom)),
    "colour": lambda img, truth, zoom: _stained(img),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("zoom", "look"),
    [
        (0.5, "plain"),
        (2, "plain"),
        (4, "plain"),
        (6, "plain"),
        (3, "textured"),
        (4, "textured"),
        (6, "textured"),
        (3, "colour"),
    ],
)
def test_auto_size_from_half_to_six_times(zoom, look):
    """Synthetic nuclei of ~13 px magnified 0.5x-6x (6-75 px): plain, textured (with one
    nucleus in eight 4x brighter) and as stained colour images.

    The estimate is within 15 % of the truth, and AP@0.5 within 0.05 of giving the true
    diameter (0.5x loses detail, the texture costs the model some nuclei at any scale) and,
    for plain magnification, of the 1x image. On the textured images the model's AP swings
    with the scale alone (4x: 0.68-0.81 for true diameters 0.94-1.06x; 6x: 0.82-0.85, and
    0.79 at 1.02x from "auto"), so there the bound is 0.1.
    """
    image, labels = _NUCLEI
    img, truth = _magnify(image, labels, zoom)
    img = LOOKS[look](img, truth, zoom)
    ap, ratio = _ap(img, truth, "auto")
    right, _ = _ap(img, truth, typical_diameter(truth))
    assert ratio == pytest.approx(1, abs=0.15), (ap, ratio)
    assert ap >= right - (0.1 if look == "textured" else 0.05), (ap, right)
    if zoom >= 1 and look == "plain":
        assert ap >= _ap_at_1x() - 0.05


@pytest.mark.slow
@pytest.mark.parametrize("zoom", [1, 4])
def test_sparse_nuclei(zoom):
    """Four nuclei in a mostly empty image still give their size."""
    image, labels = synthetic_nuclei((192, 192), n=4, radius=(6.0, 10.0), seed=4)
    img, truth = _magnify(image, labels, zoom)
    assert _ap(img, truth, "auto")[1] == pytest.approx(1, abs=0.15)


@functools.cache
def _ap_at_1x() -> float:
    return _ap(*_NUCLEI, "auto")[0]


@pytest.mark.slow
def test_same_nuclei_at_any_magnification():
    """Issue 6: 0.5x..3x give the same count within 5 %, diameter follows the factor within 15 %."""
    image, gt = synthetic_nuclei((320, 320), radius=(9.0, 13.0), touching=0.2, seed=11)
    results = {}
    for factor in (0.5, 1.0, 2.0, 3.0):
        shape = scaled_shape(image.shape, factor)
        scaled = resize(image.astype(np.float32), shape)
        pred = predict(scaled, device="cpu", diameter="auto")
        results[factor] = (int(pred.labels().max()), pred.diameter)
    count1, d1 = results[1.0]
    for factor, (count, d) in results.items():
        assert abs(count - count1) <= 0.05 * count1, results
        assert d / d1 == pytest.approx(factor, rel=0.15), results


@pytest.mark.slow
def test_auto_finds_nuclei_far_larger_than_the_model_size():
    """Two touching 60 px disks: the full-scale pass misses them, a smaller pass finds them."""
    yy, xx = np.mgrid[:192, :256]
    image = np.full((192, 256), 100.0)
    for cx in (96, 158):
        image[(yy - 96) ** 2 + (xx - cx) ** 2 <= 32**2] = 900.0
    image += np.random.default_rng(0).normal(0, 10, image.shape)
    pred = predict(image, device="cpu", diameter="auto")
    assert pred.info["scale"] < 0.5
    assert pred.labels().max() == 2
    assert pred.diameter == pytest.approx(64, rel=0.15)


def test_coarser_passes_look_at_bigger_squares():
    assert [view_side(s) for s in (1.0, 0.25, 0.0625)] == [1024, 2048, 4096]


def test_a_view_reads_each_region_once_in_a_row():
    reads = []
    view = central_view((600, 3000), lambda region: reads.append(region) or np.zeros((1, 1)))
    for side in (1024, 1448, 1448, 2048):
        view(side)
    # 600 rows are all seen from the first square on; columns grow until the third read
    assert [(r[0].stop - r[0].start, r[1].stop - r[1].start) for r in reads] == [
        (600, 1024),
        (600, 1448),
        (600, 2048),
    ]


@pytest.mark.slow
def test_big_sparse_nuclei_seen_by_the_coarse_passes():
    """12 nuclei of ~100 px over 3072²: the central 1024² holds a few pieces of them, the
    coarser passes' bigger squares hold them whole (with 1024² for every pass: 0.67)."""
    image, labels = synthetic_nuclei((384, 384), n=12, radius=(6.0, 10.0), seed=5)
    img, truth = _magnify(image, labels, 8)
    decisions, _ = NucleusModel(device="cpu").decide(img, Settings.of(diameter="auto"))
    assert decisions.estimate / typical_diameter(truth) == pytest.approx(1, abs=0.15)


@pytest.mark.slow
def test_small_nuclei_without_agreeing_passes_get_the_double_size_pass():
    """Nuclei of ~7 px measure ~11 px at full scale (too big to ask for the 2x pass on
    their own) and clump at half scale, so no two passes agree: the 2x pass runs then
    (without it the estimate was 1.67x the truth)."""
    image, labels = synthetic_nuclei((160, 160), radius=(3.0, 4.0), touching=0.0, seed=1)
    ratio = predict(image, device="cpu", diameter="auto").info["estimate"] / typical_diameter(
        labels
    )
    assert ratio == pytest.approx(1, abs=0.15)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("image_id", "was"),
    [
        ("547ef286", 2.7),  # 258 dense nuclei: clumps at 1/2 and 1/4 scale agreed
        ("3934a094", 1.5),  # stained, ~6 px: measured ~10 px at full and half scale
    ],
)
def test_val_images_shrunk_to_half_size(data_dir, image_id, was):
    """Two val images whose nuclei shrink to 6-10 px at 0.5x: the estimate is within 15 %
    (it was ``was`` x the truth before the merged-pass and 2x-pass rules)."""
    entry = next(e for e in read_index(data_dir, "val") if e.id.startswith(image_id))
    image, labels = read_pair(entry)
    img, truth = _magnify(to_grey(np.asarray(image)), labels, 0.5)
    ratio = _ap(img, truth, "auto")[1]
    assert ratio == pytest.approx(1, abs=0.15), f"{ratio:.2f}x the truth (was {was}x)"
