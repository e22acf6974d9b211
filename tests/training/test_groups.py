"""Source groups of training images (for leave-one-cluster-out checks)."""

from napari_unet_nuclei.training.groups import group_sizes, source_group


def test_groups_follow_size_kind_and_nucleus_size():
    assert source_group((256, 256), "fluorescence", 9.0) == "fluo-256-small"
    assert source_group((256, 256), "fluorescence", 20.0) == "fluo-256-large"
    assert source_group((256, 256), "fluorescence", None) == "fluo-256-small"
    assert source_group((360, 360, 3), "fluorescence", 36.0) == "fluo-360x360"
    assert source_group((603, 1272), "fluorescence", 10.0) == "fluo-other"
    assert source_group((256, 320), "stained", 17.0) == "stained-256x320"
    assert source_group((1024, 1024), "brightfield", 14.0) == "brightfield-1024x1024"


def test_group_sizes_largest_first():
    assert list(group_sizes(["a", "b", "b", "c", "b", "a"]).items()) == [
        ("b", 3),
        ("a", 2),
        ("c", 1),
    ]
