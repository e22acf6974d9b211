"""``segment-large`` never loses data: not over its input, not into a user's store, atomic.

Each test reproduces a line of issue 10 (they failed before the fix).
"""

from __future__ import annotations

import argparse
import os
import shutil
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


@pytest.mark.slow  # a child process (or several): seconds each
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


@pytest.mark.slow  # a child process (or several): seconds each
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


# Issue 23: "ours" needs our mark; a full disk is an error, not a SIGBUS.


def test_a_users_npy_is_never_replaced(tmp_path, image, tiny_weights, capsys):
    """4: a user's 2D uint32 array is not an output of ours, --overwrite or not."""
    tifffile.imwrite(tmp_path / "a.tif", image)
    counts = tmp_path / "counts.npy"
    np.save(counts, np.arange(96 * 2, dtype=np.uint32).reshape(2, 96))
    before = counts.read_bytes()
    assert _large(tiny_weights, tmp_path / "a.tif", counts, "--overwrite") == 2
    assert "not written by" in capsys.readouterr().err
    assert counts.read_bytes() == before
    ours = tmp_path / "labels.npy"  # ours (marked): replaced when asked
    assert _large(tiny_weights, tmp_path / "a.tif", ours) == 0
    assert _large(tiny_weights, tmp_path / "a.tif", ours, "--overwrite") == 0
    assert np.load(ours).max() > 0


def test_our_store_holding_a_users_file_is_not_replaced(tmp_path, image, tiny_weights, capsys):
    """4: --overwrite of our labels.zarr keeps the NOTES.txt the user put inside."""
    tifffile.imwrite(tmp_path / "a.tif", image)
    store = tmp_path / "labels.zarr"
    assert _large(tiny_weights, tmp_path / "a.tif", store) == 0
    (store / "NOTES.txt").write_text("my notes")
    assert _large(tiny_weights, tmp_path / "a.tif", store, "--overwrite") == 2
    assert "NOTES.txt" in capsys.readouterr().err
    assert (store / "NOTES.txt").read_text() == "my notes"


def _large_process(tiny_weights, source, output, **popen) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "napari_unet_nuclei.cli", "segment-large", str(source)]
    cmd += ["-o", str(output), "--block-size", "512", "--diameter", "none", "--device", "cpu"]
    cmd += ["--weights", tiny_weights]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **popen)


def _small_files() -> None:
    """In the child: files past 1 MB fail with EFBIG (SIGXFSZ ignored, so no kill)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


@pytest.mark.slow  # a child process (or several): seconds each
@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_a_file_size_limit_gives_one_line_and_leaves_nothing(tmp_path, tiny_weights, suffix):
    """6: 4 MB of labels where files may hold 1 MB: one line, exit 1, no hidden temporary."""
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((1024, 1024), np.uint8))
    out = tmp_path / f"out{suffix}"
    run = _large_process(tiny_weights, tmp_path / "big.tif", out, preexec_fn=_small_files)
    assert run.returncode == 1, (run.returncode, run.stderr)
    err = run.stderr.strip().splitlines()
    assert err[-1].startswith("error: cannot write") and "File too large" in err[-1], err
    assert [p.name for p in tmp_path.iterdir()] == ["big.tif"]


@pytest.mark.slow  # a child process (or several): seconds each
def test_a_full_disk_gives_one_line_and_leaves_nothing(tmp_path, tiny_weights):
    """6: 4 MB of labels memory-mapped on a 1 MB file system: exit 1, not a SIGBUS (135)."""
    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1) to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    probe = ["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]
    if subprocess.run(probe, capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((1024, 1024), np.uint8))
    script = (
        'd="$1"; shift; mount -t tmpfs -o size=1m tmpfs "$d" || exit 99; '
        '"$@"; code=$?; echo LISTING; ls -A "$d"; exit $code'
    )
    cmd = [sys.executable, "-m", "napari_unet_nuclei.cli", "segment-large"]
    cmd += [str(tmp_path / "big.tif"), "-o", str(disk / "out.npy"), "--block-size", "512"]
    cmd += ["--diameter", "none", "--device", "cpu", "--weights", tiny_weights]
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(disk), *cmd],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert "No space left on device" in run.stderr.strip().splitlines()[-1], run.stderr
    assert run.stdout.split("LISTING")[-1].split() == []  # no output, no hidden temporary


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
