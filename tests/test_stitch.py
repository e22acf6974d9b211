"""Block geometry and seam-free stitching (``_stitch``): pure, on hand-made labels."""

from __future__ import annotations

import numpy as np

from napari_unet_nuclei._stitch import Block, plan_blocks, stitch_block


def test_plan_blocks_tiles_the_image_once():
    blocks = plan_blocks((500, 300), block=128, margin=20)
    cover = np.zeros((500, 300), int)
    for b in blocks:
        cover[b.inner] += 1
        (iy, ix), (ry, rx) = b.inner, b.region
        assert ry.start == max(0, iy.start - 20) and ry.stop == min(500, iy.stop + 20)
        assert rx.start == max(0, ix.start - 20) and rx.stop == min(300, ix.stop + 20)
    assert (cover == 1).all() and len(blocks) == 4 * 3
    assert blocks[1].inner[1].start == 128  # raster order: along x first


def test_stitch_gives_a_seam_object_one_label_and_never_overwrites():
    out = np.zeros((10, 20), np.uint32)
    left = Block((slice(0, 10), slice(0, 10)), (slice(0, 10), slice(0, 14)))
    right = Block((slice(0, 10), slice(10, 20)), (slice(0, 10), slice(6, 20)))
    a = np.zeros((10, 14), np.uint16)
    a[2:6, 7:13] = 1  # straddles x = 10
    a[7:9, 11:14] = 2  # only in the left margin: the right block writes it
    next_id = stitch_block(out, left, a, 1, min_size=1)
    assert next_id == 2 and set(np.unique(out)) == {0, 1}
    b = np.zeros((10, 14), np.uint16)
    b[2:6, 1:8] = 1  # the same nucleus seen from the right, slightly wider
    b[7:9, 5:9] = 2
    b[0:2, 10:14] = 3
    assert stitch_block(out, right, b, next_id, min_size=1) == 4
    assert set(np.unique(out[2:6, 7:13])) == {1}
    assert (out[7:9, 11:15] == 2).all() and (out[0:2, 16:20] == 3).all()


def test_stitch_drops_what_earlier_blocks_covered_and_tiny_leftovers():
    out = np.zeros((8, 8), np.uint32)
    out[0:4, 0:4] = 9
    block = Block((slice(0, 8), slice(0, 8)), (slice(0, 8), slice(0, 8)))
    labels = np.zeros((8, 8), np.uint16)
    labels[0:4, 0:5] = 1  # 16 of its 20 pixels are taken: skipped
    labels[5:8, 0:8] = 2
    labels[3:5, 6:8] = 3  # 4 pixels: under min_size once written
    assert stitch_block(out, block, labels, 10, min_size=5) == 11
    assert set(np.unique(out)) == {0, 9, 10} and (out[5:8] == 10).all()
