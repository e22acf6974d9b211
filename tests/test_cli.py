import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_unet_nuclei._synthetic import synthetic_nuclei
from napari_unet_nuclei.cli import main


@pytest.fixture()
def image_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    img, _ = synthetic_nuclei((96, 130), seed=1)
    tifffile.imwrite(folder / "grey16.tif", img)
    img8 = (img / img.max() * 255).astype(np.uint8)
    iio.imwrite(folder / "rgb8.png", np.stack([img8] * 3, -1))
    iio.imwrite(folder / "rgba8.png", np.stack([img8] * 3 + [np.full_like(img8, 255)], -1))
    iio.imwrite(folder / "grey.jpg", img8)
    (folder / "broken.tif").write_bytes(b"this is not a tiff")
    return folder


def test_segment_folder_end_to_end(image_folder, tmp_path, capsys, tiny_weights):
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(image_folder),
            "--output",
            str(out),
            "--device",
            "cpu",
            "--weights",
            tiny_weights,
        ]
    )
    assert code == 1  # the broken file fails, the rest are written
    captured = capsys.readouterr()
    assert "broken.tif" in captured.err and "cannot read" in captured.err
    written = sorted(p.name for p in out.iterdir())
    assert written == ["grey.tif", "grey16.tif", "rgb8.tif", "rgba8.tif"]
    for name in written:
        labels = tifffile.imread(out / name)
        assert labels.shape == (96, 130) and labels.dtype.kind == "u"
    assert "[4/5]" in captured.out or "[5/5]" in captured.out


def test_all_good_inputs_exit_zero(image_folder, tmp_path, tiny_weights):
    (image_folder / "broken.tif").unlink()
    assert (
        main(
            [
                "segment",
                str(image_folder / "grey16.tif"),
                "-o",
                str(tmp_path / "o"),
                "--weights",
                tiny_weights,
                "--no-split",
                "--threshold",
                "0.3",
            ]
        )
        == 0
    )


def test_output_that_is_a_file_is_refused(image_folder, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["segment", str(image_folder), "-o", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_empty_folder_and_missing_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(
        ["segment", str(tmp_path / "empty"), str(tmp_path / "nope.tif"), "-o", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 1 and "holds no" in err and "no such file" in err


def test_absent_device_is_refused(image_folder, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["segment", str(image_folder), "-o", str(tmp_path / "o"), "--device", "cuda"]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_sample_then_segment(tmp_path, tiny_weights):
    sample = tmp_path / "sample.tif"
    assert main(["sample", str(sample), "--size", "128", "--labels", str(tmp_path / "gt.tif")]) == 0
    assert tifffile.imread(sample).shape == (128, 128)
    assert tifffile.imread(tmp_path / "gt.tif").max() > 5
    assert main(["segment", str(sample), "-o", str(tmp_path / "o"), "--weights", tiny_weights]) == 0
    assert (tmp_path / "o" / "sample.tif").is_file()
