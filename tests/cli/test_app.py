"""The command line (``cli``): ``segment`` and ``sample`` end to end, and never losing data."""

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_unet_nuclei import NucleusModel
from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.cli.app import main


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


def test_empty_folder_and_missing_input(tmp_path, tiny_weights, capsys):
    (tmp_path / "empty").mkdir()
    inputs = [str(tmp_path / "empty"), str(tmp_path / "nope.tif")]
    code = main(["segment", *inputs, "-o", str(tmp_path / "o"), "--weights", tiny_weights])
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


# ``segment`` and ``sample`` never lose data (issue 10; each test failed before the fix).


def _image(seed: int = 1) -> np.ndarray:
    return synthetic_nuclei((64, 80), seed=seed)[0]


def _segment(tiny_weights: str, *args: str) -> int:
    return main(["segment", *args, "--device", "cpu", "--weights", tiny_weights])


def test_output_folder_that_is_the_input_folder_is_refused(tmp_path, tiny_weights, capsys):
    data = tmp_path / "data"
    data.mkdir()
    tifffile.imwrite(data / "raw.tif", _image())
    before = (data / "raw.tif").read_bytes()
    assert _segment(tiny_weights, str(data), "-o", str(data)) == 2
    assert "input folder" in capsys.readouterr().err
    assert (data / "raw.tif").read_bytes() == before


def test_an_output_file_that_is_an_input_is_refused(tmp_path, tiny_weights, capsys):
    tifffile.imwrite(tmp_path / "raw.tif", _image())
    before = (tmp_path / "raw.tif").read_bytes()
    assert _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(tmp_path)) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert (tmp_path / "raw.tif").read_bytes() == before


@pytest.mark.parametrize("layout", ["two folders", "png beside tif"])
def test_inputs_with_one_output_name_all_get_written(tmp_path, tiny_weights, capsys, layout):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    tifffile.imwrite(d1 / "x.tif", _image(1))
    if layout == "two folders":
        d2.mkdir()
        tifffile.imwrite(d2 / "x.tif", _image(2))
        inputs, expected = [d1, d2], ["d1_x.tif", "d2_x.tif"]
    else:
        import imageio.v3 as iio

        iio.imwrite(d1 / "x.png", (_image(2) // 256).astype(np.uint8))
        inputs, expected = [d1], ["x_png.tif", "x_tif.tif"]
    out = tmp_path / "out"
    assert _segment(tiny_weights, *map(str, inputs), "-o", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == expected
    assert "written as" in capsys.readouterr().out  # the run says so


def test_an_earlier_output_is_replaced_only_with_overwrite(tmp_path, tiny_weights, capsys):
    tifffile.imwrite(tmp_path / "raw.tif", _image())
    out = tmp_path / "out"
    assert _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(out)) == 0
    assert _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(out)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(out), "--overwrite") == 0


def test_a_file_we_did_not_write_is_never_replaced(tmp_path, tiny_weights, capsys):
    tifffile.imwrite(tmp_path / "raw.tif", _image())
    out = tmp_path / "out"
    out.mkdir()
    tifffile.imwrite(out / "raw.tif", np.full((5, 5), 7, np.uint8))  # the user's own file
    before = (out / "raw.tif").read_bytes()
    assert _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(out), "--overwrite") == 2
    assert "not written by" in capsys.readouterr().err
    assert (out / "raw.tif").read_bytes() == before


def test_a_folder_holding_other_files_is_not_written_into(tmp_path, tiny_weights, capsys):
    tifffile.imwrite(tmp_path / "raw.tif", _image())
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    code = _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(out))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert code == 2 and "holds files not written by" in capsys.readouterr().err


def _lying_tiff(path) -> None:
    """A small zlib TIFF whose header declares 60,416 x 60,416 pixels."""
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8), compression="zlib")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(60416)
        tif.pages[0].tags["ImageLength"].overwrite(60416)


def test_a_huge_header_is_refused_before_reading(tmp_path, tiny_weights, capsys, monkeypatch):
    _lying_tiff(tmp_path / "huge.tif")
    tifffile.imwrite(tmp_path / "small.tif", _image())

    real = tifffile.TiffFile.asarray

    def guarded(self, *args, **kwargs):
        if np.prod(self.pages[0].shape) > 10**8:
            raise AssertionError("the huge image was read whole")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffFile, "asarray", guarded)
    out = tmp_path / "out"
    code = _segment(
        tiny_weights, str(tmp_path / "huge.tif"), str(tmp_path / "small.tif"), "-o", str(out)
    )
    err = capsys.readouterr().err
    assert code == 1 and "segment-large" in err and "huge.tif" in err
    assert [p.name for p in out.iterdir()] == ["small.tif"]


@pytest.mark.parametrize("error", [RuntimeError("CUDA error: out of memory"), MemoryError()])
def test_one_failing_file_does_not_end_the_batch(
    tmp_path, tiny_weights, capsys, monkeypatch, error
):
    for name in ("a", "b", "c"):
        tifffile.imwrite(tmp_path / f"{name}.tif", _image())
    real = NucleusModel.segment

    def segment(self, image, **kwargs):
        if image.flat[0] == 12345:
            raise error
        return real(self, image, **kwargs)

    bad = _image()
    bad.flat[0] = 12345
    tifffile.imwrite(tmp_path / "b.tif", bad)
    monkeypatch.setattr(NucleusModel, "segment", segment)
    out = tmp_path / "out"
    assert _segment(tiny_weights, str(tmp_path), "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert "b.tif: FAILED (" + type(error).__name__ in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["a.tif", "c.tif"]


@pytest.mark.parametrize(
    "setting", [["--threshold", "1.5"], ["--min-size", "-1"], ["--weights", "no-such-weights.pt"]]
)
def test_settings_that_cannot_work_are_refused_up_front(tmp_path, tiny_weights, capsys, setting):
    tifffile.imwrite(tmp_path / "raw.tif", _image())
    argv = [
        "segment",
        str(tmp_path / "raw.tif"),
        "-o",
        str(tmp_path / "out"),
        "--device",
        "cpu",
        *setting,
    ]
    assert main(argv if "--weights" in setting else [*argv, "--weights", tiny_weights]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_sample_never_replaces_a_file_without_overwrite(tmp_path, capsys):
    target = tmp_path / "mine.tif"
    target.write_bytes(b"the user's notes")
    assert main(["sample", str(target), "--size", "64"]) == 2
    assert target.read_bytes() == b"the user's notes"
    fresh = tmp_path / "sample.tif"
    assert main(["sample", str(fresh), "--size", "64"]) == 0
    assert main(["sample", str(fresh), "--size", "64"]) == 2
    assert main(["sample", str(fresh), "--size", "64", "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.tif", "sample.tif"]


# Issue 23: nothing lost when outputs change under a run, and one line instead of a trace.


def _cli_process(*args: str) -> subprocess.CompletedProcess:
    """The command line run as another process (the package found as this one finds it)."""
    import napari_unet_nuclei

    src = str(Path(napari_unet_nuclei.__file__).parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "napari_unet_nuclei.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def test_two_runs_writing_one_output_at_once_lose_nothing(
    tmp_path, tiny_weights, capsys, monkeypatch
):
    """1: `segment d1/x.tif -o out & segment d2/x.tif -o out`: the second to finish says so."""
    from napari_unet_nuclei.batch import file_job

    for folder, seed in (("d1", 1), ("d2", 2)):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "x.tif", _image(seed))
    out, real, other = tmp_path / "out", file_job.write_output, []

    def other_run_first(target, *args, **kwargs):  # the other run ends between check and write
        run = _cli_process(
            "segment", str(tmp_path / "d2" / "x.tif"), "-o", str(out), "--weights", tiny_weights
        )
        other.append((run, (out / "x.tif").read_bytes()))
        return real(target, *args, **kwargs)

    monkeypatch.setattr(file_job, "write_output", other_run_first)
    code = _segment(tiny_weights, str(tmp_path / "d1" / "x.tif"), "-o", str(out))
    (run, written), err = other[0], capsys.readouterr().err
    assert run.returncode == 0, run.stderr
    assert code == 1 and "x.tif appeared while" in err, err
    assert (out / "x.tif").read_bytes() == written  # the other run's result, whole
    assert [p.name for p in out.iterdir()] == ["x.tif"]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_file_made_during_the_batch_is_never_replaced(
    tmp_path, tiny_weights, capsys, monkeypatch, overwrite
):
    """2: the user's out/b.tif, written after the start and before b's turn, stays."""
    from napari_unet_nuclei.batch import file_job

    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        tifffile.imwrite(tmp_path / "in" / f"{name}.tif", _image())
    out, real = tmp_path / "out", file_job.write_output

    def user_saves_b(target, *args, **kwargs):
        if target.name == "a.tif":
            tifffile.imwrite(out / "b.tif", np.full((5, 5), 7, np.uint8))
        return real(target, *args, **kwargs)

    monkeypatch.setattr(file_job, "write_output", user_saves_b)
    argv = [str(tmp_path / "in"), "-o", str(out), "--workers", "0", *overwrite]
    assert _segment(tiny_weights, *argv) == 1
    assert "b.tif appeared while" in capsys.readouterr().err
    assert tifffile.imread(out / "b.tif").max() == 7  # the user's
    assert tifffile.imread(out / "a.tif").max() > 0
    assert sorted(p.name for p in out.iterdir()) == ["a.tif", "b.tif"]


def test_a_users_weights_file_in_the_output_folder_is_not_ours(tmp_path, tiny_weights, capsys):
    """4: a weights-format .pt someone saved is not an output of ours to write beside."""
    import torch

    tifffile.imwrite(tmp_path / "raw.tif", _image())
    out = tmp_path / "out"
    out.mkdir()
    blob = torch.load(tiny_weights, weights_only=True)
    torch.save({"config": blob["config"], "state_dict": blob["state_dict"]}, out / "model.pt")
    assert _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(out)) == 2
    assert "model.pt" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["model.pt"]


def _protect(monkeypatch, tmp_path) -> Path:
    """A stand-in for the installed package's weights folder (all writers must refuse it)."""
    from napari_unet_nuclei import _outputs

    package = tmp_path / "site-packages" / "napari_unet_nuclei"
    (package / "weights").mkdir(parents=True)
    folders = (package, package / "weights")
    monkeypatch.setattr(_outputs, "package_folders", lambda: folders, raising=False)
    return package / "weights"


def test_sample_never_writes_into_the_package(tmp_path, capsys, monkeypatch):
    """5: `sample` refused as `train` and `average` are."""
    weights = _protect(monkeypatch, tmp_path)
    assert main(["sample", str(weights / "s.tif"), "--size", "64"]) == 2
    assert "installed package" in capsys.readouterr().err
    assert list(weights.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "{tmp}/nope/s.tif"],
        ["sample", "{tmp}/s.tif", "--size", "0"],
        ["sample", "{tmp}/s.tif", "--size", "-3"],
        ["average", "general", "general", "--output", "{tmp}/nope/a.pt"],
    ],
)
def test_bad_sample_and_average_arguments_give_one_line(tmp_path, capsys, argv):
    """8: one line and exit 2, nothing written."""
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert list(tmp_path.rglob("*")) == []


def test_an_output_folder_that_cannot_be_made_gives_one_line(
    tmp_path, tiny_weights, capsys, read_only_dir
):
    """8: `segment -o <read-only folder>/new`."""
    tifffile.imwrite(tmp_path / "raw.tif", _image())
    assert _segment(tiny_weights, str(tmp_path / "raw.tif"), "-o", str(read_only_dir / "new")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err


@pytest.mark.parametrize(
    "change",
    [
        {"config": [4, 2]},
        {"config": {"base": 4, "depth": 2, "width": 3}},
        {"config": {"base": 4.5, "depth": 2}},
        {"meta": ["diameter", 16]},
        {"meta": {"diameter": "big"}},
    ],
)
def test_a_weights_file_of_an_unexpected_shape_gives_one_line(
    tmp_path, tiny_weights, capsys, change
):
    """8: config or meta of an unexpected type or key: exit 2, one line, for segment."""
    import torch

    blob = {**torch.load(tiny_weights, weights_only=True), **change}
    torch.save(blob, tmp_path / "odd.pt")
    tifffile.imwrite(tmp_path / "raw.tif", _image())
    argv = [str(tmp_path / "raw.tif"), "-o", str(tmp_path / "out")]
    assert main(["segment", *argv, "--device", "cpu", "--weights", str(tmp_path / "odd.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "odd.pt" in err, err
    assert not (tmp_path / "out").exists()
