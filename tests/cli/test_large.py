"""``segment-large`` never loses data: not over its input, not into a user's store, atomic.

Each test reproduces a line of issue 10 (they failed before the fix).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tifffile
import zarr
from _helpers import earlier_output

from napari_unet_nuclei._sample_data import synthetic_nuclei
from napari_unet_nuclei.cli.app import main
from napari_unet_nuclei.cli.large import add_arguments, run


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_nuclei((192, 192), seed=3)[0]


def _large(tiny_weights: str, source, output, *extra: str) -> int:
    return main(
        [
            "segment-large",
            str(source),
            "-o",
            str(output),
            "--device",
            "cpu",
            "--weights",
            tiny_weights,
            "--block-size",
            "96",
            "--margin",
            "32",
            *extra,
        ]
    )


def test_a_tiff_is_never_written_over_itself(tmp_path, image, tiny_weights, capsys):
    source = tmp_path / "s.tif"
    tifffile.imwrite(source, image)
    before = source.read_bytes()
    code = _large(tiny_weights, source, source)
    assert source.read_bytes() == before
    assert code == 2 and "would replace the input" in capsys.readouterr().err


def test_a_zarr_store_is_never_written_over_itself(tmp_path, image, tiny_weights, capsys):
    store = tmp_path / "p.zarr"
    zarr.open_array(str(store), mode="w", shape=image.shape, dtype=image.dtype, zarr_format=2)[
        :
    ] = image
    code = _large(tiny_weights, store, store)
    np.testing.assert_array_equal(zarr.open_array(str(store), mode="r")[:], image)
    assert code == 2 and "would replace the input" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_a_users_folder_is_never_emptied(tmp_path, image, tiny_weights, capsys, extra):
    tifffile.imwrite(tmp_path / "a.tif", image)
    user = tmp_path / "user.zarr"
    user.mkdir()
    (user / "notes.txt").write_text("months of work")
    code = _large(tiny_weights, tmp_path / "a.tif", user, *extra)
    assert [p.name for p in user.iterdir()] == ["notes.txt"]
    assert code == 2 and "not written by" in capsys.readouterr().err


def test_a_bad_block_size_is_refused_before_anything_is_written(
    tmp_path, image, tiny_weights, capsys
):
    tifffile.imwrite(tmp_path / "a.tif", image)
    before = earlier_output(tmp_path / "prev.tif")
    code = main(
        [
            "segment-large",
            str(tmp_path / "a.tif"),
            "-o",
            str(tmp_path / "prev.tif"),
            "--device",
            "cpu",
            "--weights",
            tiny_weights,
            "--block-size",
            "0",
        ]
    )
    assert (tmp_path / "prev.tif").read_bytes() == before
    assert code == 2 and "block_size" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_an_earlier_output_is_replaced_whole_only_with_overwrite(
    tmp_path, image, tiny_weights, suffix
):
    tifffile.imwrite(tmp_path / "a.tif", image)
    out = tmp_path / f"labels{suffix}"
    assert _large(tiny_weights, tmp_path / "a.tif", out) == 0
    assert _large(tiny_weights, tmp_path / "a.tif", out) == 2
    assert _large(tiny_weights, tmp_path / "a.tif", out, "--overwrite") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", out.name]


def _wait_for_a_block(proc: subprocess.Popen, seconds: float = 120) -> str:
    """Output lines until the first block is reported (or the process ends)."""
    seen, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if "block 1/" in line or not line:
            return seen
    return seen


@pytest.mark.parametrize(("sig", "earlier"), [(signal.SIGINT, False), (signal.SIGTERM, True)])
def test_an_interrupted_run_leaves_no_partial_file(tmp_path, tiny_weights, sig, earlier):
    tifffile.imwrite(tmp_path / "big.tif", synthetic_nuclei((512, 512), seed=4)[0])
    out = tmp_path / "labels.tif"
    before = earlier_output(out) if earlier else None
    cmd = [
        sys.executable,
        "-m",
        "napari_unet_nuclei.cli.app",
        "segment-large",
        str(tmp_path / "big.tif"),
        "-o",
        str(out),
        "--block-size",
        "64",
        "--device",
        "cpu",
        "--weights",
        tiny_weights,
        "--diameter",
        "none",
        *(["--overwrite"] if earlier else []),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        # a shell starts background jobs with SIGINT ignored, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        seen = _wait_for_a_block(proc)
        assert "block 1/" in seen, proc.stderr.read() if proc.poll() is not None else seen
        proc.send_signal(sig)
        proc.wait(60)
    finally:
        proc.kill()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif"] + (
        ["labels.tif"] if earlier else []
    )
    assert (out.read_bytes() if earlier else None) == before
    assert proc.returncode == 130, proc.stderr.read()


@pytest.fixture()
def silent_peer():
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in accepted:
        conn.close()


def test_a_silent_scheduler_fails_within_the_timeout(tmp_path, image, tiny_weights, silent_peer):
    tifffile.imwrite(tmp_path / "a.tif", image)
    cmd = [
        sys.executable,
        "-m",
        "napari_unet_nuclei.cli.app",
        "segment-large",
        str(tmp_path / "a.tif"),
        "-o",
        str(tmp_path / "labels.tif"),
        "--device",
        "cpu",
        "--weights",
        tiny_weights,
        "--scheduler",
        silent_peer,
        "--scheduler-timeout",
        "2",
    ]
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and time.monotonic() - t0 < 60
    assert "did not answer within 2 s" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif"]


def test_cli_segment_large(tmp_path, tiny_weights, capsys):
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, synthetic_nuclei((512, 512), seed=11)[0][:256, :256])
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "labels.tif"
    tiny = ["--weights", tiny_weights]
    args = parser.parse_args(
        [str(source), "-o", str(out), "--block-size", "128", "--margin", "32", "--device", "cpu"]
        + tiny
    )
    assert run(args) == 0
    assert "nuclei" in capsys.readouterr().out and tifffile.imread(out).max() > 20
    bad = parser.parse_args([str(tmp_path / "missing.tif"), "-o", str(tmp_path / "new.tif")] + tiny)
    assert run(bad) == 1


def test_cluster_workers_and_their_old_name(capsys):
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["in.tif", "-o", "x.tif"]).cluster_workers == 1
    assert p.parse_args(["in.tif", "-o", "x.tif", "--cluster-workers", "3"]).cluster_workers == 3
    assert capsys.readouterr().err == ""
    assert p.parse_args(["in.tif", "-o", "x.tif", "--workers", "2"]).cluster_workers == 2
    assert "--workers is deprecated: use --cluster-workers" in capsys.readouterr().err
    assert "--workers" not in p.format_help()  # hidden: the help shows the one name
