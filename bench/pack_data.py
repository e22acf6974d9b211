"""The training rows of the three data folders, packed small enough to travel to a GPU machine.

Grey images stored as RGB (R = G = B, as published) are written as one-channel PNGs (the same
pixel values; training reads them the same: the grey of equal channels is that channel), colour
images are copied as they are, labels are copied, and index.tsv keeps the ``train`` rows. Two
parts, each under the 64 MiB a device call may carry with the repository:

    python bench/pack_data.py --data ../shared/data --out runs/devdata
    # runs/devdata/dsb/dsb2018_train, runs/devdata/more/{kromp2020_fluo,bitdepth_nucseg}

The val rows of all three fit one part (bench/gpu_check.sh scores them on the device):

    python bench/pack_data.py --data ../shared/data --out runs/devval --split val
    # runs/devval/val/{dsb2018_train,kromp2020_fluo,bitdepth_nucseg}
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np

PARTS = {"dsb": ["dsb2018_train"], "more": ["kromp2020_fluo", "bitdepth_nucseg"]}


def pack_image(source: Path, target: Path) -> None:
    """A grey image stored as equal colour channels as one channel; any other image as is."""
    image = iio.imread(source)
    rgb = image[..., :3] if image.ndim == 3 else None
    grey = rgb is not None and (rgb == rgb[..., :1]).all()
    if grey:
        iio.imwrite(target, np.ascontiguousarray(rgb[..., 0]))
    else:
        shutil.copyfile(source, target)


def pack_folder(source: Path, target: Path, split: str = "train") -> int:
    """The ``split`` rows of a data folder into ``target``; how many images."""
    (target / "images").mkdir(parents=True)
    (target / "labels").mkdir()
    with (source / "index.tsv").open(newline="") as src:
        reader = csv.DictReader(src, delimiter="\t")
        rows = [r for r in reader if r["split"] == split]
        names = reader.fieldnames
    with (target / "index.tsv").open("w", newline="") as dst:
        out = csv.DictWriter(dst, names, delimiter="\t", lineterminator="\n")
        out.writeheader()
        out.writerows(rows)
    for row in rows:
        pack_image(source / "images" / f"{row['id']}.png", target / "images" / f"{row['id']}.png")
        shutil.copyfile(
            source / "labels" / f"{row['id']}.tif", target / "labels" / f"{row['id']}.tif"
        )
    return len(rows)


def main() -> None:
    """Write the two parts and print their sizes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="the folder holding the three")
    p.add_argument("--out", type=Path, required=True, help="a new folder (ignored by git)")
    p.add_argument("--split", default="train", help="train: two parts; another: one part")
    args = p.parse_args()
    parts = PARTS if args.split == "train" else {args.split: sum(PARTS.values(), [])}
    for part, folders in parts.items():
        for name in folders:
            n = pack_folder(args.data / name, args.out / part / name, args.split)
            print(f"{part}/{name}: {n} images", flush=True)
        size = sum(f.stat().st_size for f in (args.out / part).rglob("*") if f.is_file())
        print(f"{part}: {size / 2**20:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
