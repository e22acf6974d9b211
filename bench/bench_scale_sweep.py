"""``diameter="auto"`` on val images magnified 0.5x to 8x: AP@0.5 and the size estimate per zoom.

    python bench/bench_scale_sweep.py --data ../shared/data/dsb2018_train [--images 12]
        [--zooms 0.5 1 2 3 4 6 8] [--max-side 3072] [--range 5 160] [--no-texture]
        [--oracle] [--verbose] [--weights FILE]

Each image is cropped centrally to ``max-side / max(zooms)`` px first (384² by default), so
the most magnified image stays within ``max-side``² px, then resampled bilinearly (labels by
nearest neighbour). The truth diameter is the median of the magnified labels, measured as
``_scale.typical_diameter`` does; the estimate is the size ``diameter="auto"`` settled on.

Plain magnification gives smooth, blurred nuclei. The real failure at high magnification is
dim chromatin texture (blobs of 14-22 px) with an occasional very bright nucleus, so the
*textured* rows add, at zooms of 2x and more, on fluorescence images: texture inside every
nucleus (Gaussian-filtered noise of sigma 4 px at the magnified scale, +-60 % contrast),
one nucleus in eight made 4x brighter, and camera noise.

Per zoom, only images whose true diameter there lies in ``--range`` count, and AP@0.5 is
compared with 1x on those same images. ``--oracle`` gives the true diameter instead of
"auto": what a perfect estimate would reach with this model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from napari_unet_nuclei import predict
from napari_unet_nuclei._normalize import to_grey
from napari_unet_nuclei._scale import resize, resize_labels, scaled_shape, typical_diameter
from napari_unet_nuclei.training.dataset import read_index, read_pair
from napari_unet_nuclei.training.metrics import match_counts

TEXTURE_SIGMA = 4.0  # px at the magnified scale: blobs of about 14-22 px across
TEXTURE_CONTRAST = 0.6
BRIGHT_SHARE, BRIGHT_GAIN = 8, 4.0  # one nucleus in BRIGHT_SHARE made BRIGHT_GAIN x brighter


def pick(data: Path, n: int) -> list:
    """``n`` val images spread evenly over the val list sorted by kind, then id."""
    entries = sorted(read_index(data, "val"), key=lambda e: (e.kind, e.id))
    step = max(1, len(entries) / max(n, 1))
    return [entries[int(i * step)] for i in range(min(n, len(entries)))]


def central_crop(arr: np.ndarray, side: int) -> np.ndarray:
    """The central ``side`` x ``side`` (or smaller) square of a 2D or (H, W, C) array."""
    h, w = arr.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return arr[y : y + side, x : x + side]


def magnify_labels(labels: np.ndarray, zoom: float) -> np.ndarray:
    """Nearest-neighbour resampling on the same pixel-centre grid as ``_scale.resize``."""
    return resize_labels(labels, scaled_shape(labels.shape, zoom))


def magnify(image: np.ndarray, zoom: float) -> np.ndarray:
    """Bilinear magnification of a grey or (H, W, C) image, float32."""
    arr = np.asarray(image, np.float32)
    shape = scaled_shape(arr.shape[:2], zoom)
    if arr.ndim == 2:
        return resize(arr, shape)
    return np.moveaxis(resize(np.moveaxis(arr, -1, 0), shape), 0, -1)


def add_texture(image: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Grey image with chromatin-like texture, a few very bright nuclei and camera noise."""
    rng = np.random.default_rng(seed)
    grey = to_grey(image)
    lo, hi = np.percentile(grey, [1, 99.8])
    grey = np.clip((grey - lo) / max(hi - lo, 1e-6), 0, None)
    blobs = ndi.gaussian_filter(rng.standard_normal(grey.shape), TEXTURE_SIGMA)
    blobs /= blobs.std() + 1e-9
    texture = np.clip(1 + TEXTURE_CONTRAST * blobs, 0.05, None)
    gain = np.ones(int(labels.max()) + 1)
    ids = np.arange(1, gain.size)
    gain[ids[rng.random(ids.size) < 1 / BRIGHT_SHARE]] = BRIGHT_GAIN
    out = np.where(labels > 0, grey * texture * gain[labels], grey)
    out = rng.poisson(np.clip(out, 0, None) * 200) / 200 + rng.normal(0, 0.02, out.shape)
    return out.astype(np.float32)


def run_one(image: np.ndarray, truth: np.ndarray, oracle: bool, weights: str | None) -> dict:
    """Counts at IoU 0.5, the estimated and the true diameter (``diameter="auto"``).

    With ``oracle`` the true diameter is given instead, to tell the estimate's errors apart
    from the model's.
    """
    true_d = typical_diameter(truth)
    pred = predict(image, "cpu", weights, diameter=true_d if oracle and true_d else "auto")
    info = pred.info
    estimate = info.get("estimate")
    if "estimate" not in info:  # before the estimate was recorded: what set the scale
        estimate = info["model_diameter"] / info["scale"] if info["scale"] != 1 else pred.diameter
    if oracle:
        estimate = true_d
    c = match_counts(truth, pred.labels(), (0.5,))[0]
    return {"tp": c.tp, "fp": c.fp, "fn": c.fn, "est": estimate, "true": true_d}


def sweep(
    entries: list,
    zooms: list[float],
    side: int,
    oracle: bool,
    verbose: bool,
    plain: dict[float, list[dict]] | None = None,
    weights: str | None = None,
) -> dict[float, list[dict]]:
    """Per zoom, one result per image; textured where ``plain`` (the untextured run) is given."""
    rows: dict[float, list[dict]] = {z: [] for z in zooms}
    for i, entry in enumerate(entries):
        image, gt = read_pair(entry)
        image, gt = central_crop(np.asarray(image), side), central_crop(gt, side)
        for z in zooms:
            textured = plain is not None and z >= 2 and entry.kind == "fluorescence"
            if plain is not None and not textured:
                rows[z].append(plain[z][i])  # the same image as in the plain run
                continue
            truth = magnify_labels(gt, z)
            img = magnify(image, z)
            if textured:
                img = add_texture(img, truth, seed=i)
            rows[z].append(run_one(img, truth, oracle, weights))
            if verbose:
                print(f"  {entry.id[:8]} {entry.kind[:5]} x{z:g}: {rows[z][-1]}", flush=True)
    return rows


def _ap(results: list[dict]) -> float:
    tp = sum(r["tp"] for r in results)
    return tp / max(1, tp + sum(r["fp"] + r["fn"] for r in results))


def table(rows: dict[float, list[dict]], title: str, size_range: tuple[float, float]) -> str:
    """Markdown table per zoom: AP@0.5 against 1x on the same images, the estimate's error.

    Only images whose true diameter at that zoom lies in ``size_range`` count.
    """
    out = [
        f"**{title}**",
        "",
        "| zoom | images | true diameter (median px) | AP@0.5 | 1x, same images | change "
        "| estimate error (median) | estimates within 15 % |",
        "|---" * 8 + "|",
    ]
    for z, results in rows.items():
        keep = [
            i
            for i, r in enumerate(results)
            if r["true"] and size_range[0] <= r["true"] <= size_range[1]
        ]
        if not keep:
            continue
        here, base = [results[i] for i in keep], [rows[1.0][i] for i in keep]
        err = np.array([abs(r["est"] / r["true"] - 1) if r["est"] else np.inf for r in here])
        ap, ap1 = _ap(here), _ap(base)
        true_d = np.median([r["true"] for r in here])
        out.append(
            f"| {z:g}x | {len(keep)} | {true_d:.0f} | {ap:.3f} | {ap1:.3f} | "
            f"{ap - ap1:+.3f} | {100 * np.median(err):.0f} % | "
            f"{int((err <= 0.15).sum())}/{err.size} |"
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--zooms", type=float, nargs="+", default=[0.5, 1, 2, 3, 4, 6, 8])
    # 384² crops: at 8x, a 192² crop (--max-side 1536, the default until 2026-11-27) held
    # about 5 nuclei, too few for a median diameter or for AP
    p.add_argument("--max-side", type=int, default=3072)
    p.add_argument("--no-texture", action="store_true")
    p.add_argument(
        "--range",
        type=float,
        nargs=2,
        default=[5, 160],
        metavar=("MIN", "MAX"),
        help="count an image at a zoom only when its true diameter is in this range",
    )
    p.add_argument("--oracle", action="store_true", help="give the true diameter, not 'auto'")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--weights", default=None, help="weights file (default: the bundled model)")
    args = p.parse_args()
    entries = pick(args.data, args.images)
    side = int(args.max_side / max(args.zooms))
    kinds = {k: sum(e.kind == k for e in entries) for k in sorted({e.kind for e in entries})}
    args.zooms = sorted({1.0, *args.zooms})
    setting = "the true diameter" if args.oracle else "diameter='auto'"
    print(
        f"{len(entries)} val images {kinds}, central crops of {side}^2 px, zooms {args.zooms}, "
        f"{setting}, cpu; true diameters {args.range[0]:g}-{args.range[1]:g} px count\n"
    )
    t0 = time.perf_counter()
    plain = sweep(entries, args.zooms, side, args.oracle, args.verbose, None, args.weights)
    print(table(plain, "plain magnification", tuple(args.range)))
    print(f"({time.perf_counter() - t0:.0f} s)\n", flush=True)
    if not args.no_texture:
        t0 = time.perf_counter()
        textured = sweep(entries, args.zooms, side, args.oracle, args.verbose, plain, args.weights)
        print(table(textured, "textured (zoom >= 2, fluorescence images)", tuple(args.range)))
        print(f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
