"""Segmentation on a dask.distributed cluster: many files, or one huge image in blocks.

Files: one task per image; each worker process loads the model once (the model cache of
``_inference`` lives per process) and writes its labels itself. A huge image: every block
is a task labelled on a worker; the client stitches the results in raster order with
``_tiling.stitch_all``, so the labels are those of a single-process block-by-block run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from distributed import Client, LocalCluster, as_completed

from .._decisions import Decisions
from .._engine import NucleusModel
from .._outputs import check_output, check_output_folder
from .._settings import ProgressCallback, Settings
from .._tiling import Block, in_order, read_region, stitch_all
from .sources import open_source


@dataclass(frozen=True)
class FileResult:
    """What became of one input file."""

    path: str
    output: str | None
    count: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class PathSource:
    """A big image by file name, opened by each worker itself (nothing shipped)."""

    path: str
    axes: str | None = None
    channel: int | None = None


async def _identity(address: str, timeout: float) -> dict:
    from distributed.comm import connect

    comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
    try:
        await asyncio.wait_for(comm.write({"op": "identity"}), timeout)
        return await asyncio.wait_for(comm.read(), timeout)
    finally:
        comm.abort()


def probe_scheduler(address: str, timeout: float = 30.0) -> None:
    """Ask the scheduler who it is; TimeoutError in ``timeout`` s when nothing answers.

    ``Client`` alone waits for good at a peer that accepts the connection and stays silent.
    """
    try:
        asyncio.run(_identity(address, timeout))
    except TimeoutError as exc:
        raise TimeoutError(
            f"the dask scheduler at {address} did not answer within "
            f"{timeout:.0f} s; check the address and that it is running"
        ) from exc
    except OSError as exc:
        raise OSError(f"cannot reach the dask scheduler at {address}: {exc}") from exc


@contextmanager
def cluster_client(
    address: str | None = None,
    n_workers: int = 1,
    threads_per_worker: int = 1,
    processes: bool = False,
    timeout: float = 30.0,
) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a new LocalCluster (closed after)."""
    if address:
        probe_scheduler(address, timeout)
        with Client(address, timeout=timeout) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def segment_file(path: str, target: str, options: dict) -> FileResult:
    """Task: segment one image file and write its labels to ``target`` (checked already).

    ``options``: ``device``, ``weights``, ``axes``, ``channel``, ``overwrite`` and the
    settings of ``Settings``. Read, segmented and written as the folder pipeline does
    (``file_job``): ``NucleusModel.segment`` picks the path; ``overwrite`` replaces only an
    earlier output of ours, re-checked at the rename.
    """
    from .file_job import FileOptions, read_input, segment_array, write_output

    t0 = time.perf_counter()
    try:
        own = ("device", "weights", "axes", "channel", "overwrite")
        run = {k: options[k] for k in own if k in options}
        s = Settings.of(**{k: v for k, v in options.items() if k not in run})
        file_options = FileOptions(settings=s, **run)
        segmented = segment_array(*read_input(Path(path), file_options), file_options)
        write_output(Path(target), segmented, file_options.overwrite)
    except Exception as exc:  # one file's failure is its result; the others go on
        return FileResult(str(path), None, error=f"{type(exc).__name__}: {exc}")
    count = int(segmented.labels.max(initial=0))
    return FileResult(str(path), str(target), count, time.perf_counter() - t0)


def segment_files(
    client: Client,
    inputs: list[str | Path],
    output_dir: str | Path,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    **options,
) -> list[FileResult]:
    """Segment image files (or folders of them) on the cluster, one task per image.

    Outputs are checked first (``_outputs.check_output``): none may replace an input, and
    an earlier output is replaced only with ``overwrite``.
    ``options`` go to ``segment_file`` (``device``, ``weights``, ``axes``, ``channel``,
    ``diameter``, ``threshold``, ``split``, ``min_size`` ...). Results keep input order.
    """
    from .._io import find_images, output_names

    files, problems = find_images(list(inputs))
    names, _ = output_names(files)  # inputs sharing a name get distinct ones
    targets = [str(check_output(Path(output_dir) / n, files, overwrite)) for n in names]
    check_output_folder(output_dir)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    futures = client.map(
        segment_file,
        [str(f) for f in files],
        targets,
        options={**options, "overwrite": overwrite},
        pure=False,
    )
    order = {f.key: i for i, f in enumerate(futures)}
    results: list[FileResult | None] = [None] * len(files)
    for done, future in enumerate(as_completed(futures), 1):
        results[order[future.key]] = future.result()
        future.release()
        if progress is not None:
            progress(done, len(files))
    failed = [FileResult(p, None, error=p) for p in problems]
    return [r for r in results if r is not None] + failed


@lru_cache(maxsize=4)
def _opened(source: PathSource):
    return open_source(source.path, source.axes, source.channel)


def label_block(
    source, region: tuple[slice, slice], model: NucleusModel, s: Settings, d: Decisions
) -> np.ndarray:
    """Task: read one block plus margin (from a path or an array) and label it."""
    array = _opened(source) if isinstance(source, PathSource) else source
    return model.label_region(read_region(array, region), s, d)


def segment_blocks_distributed(client: Client, source, out=None, **options):
    """A big image block by block on the cluster: the labels (``out`` when given), as one process.

    ``options``: ``margin``, ``model``, ``window``, ``progress``, ``decisions`` and the
    settings of ``Settings``.
    """
    return label_blocks_distributed(client, source, out, **options)[0]


def label_blocks_distributed(
    client: Client,
    source,
    out=None,
    margin: int | None = None,
    model: NucleusModel | None = None,
    window: int | None = None,
    progress: ProgressCallback | None = None,
    decisions: Decisions | None = None,
    **settings,
) -> tuple[object, int]:
    """``NucleusModel.label_blocks`` with the blocks labelled as tasks on the cluster.

    ``source``: a path or ``PathSource`` (each worker opens the file itself), a numpy
    array (scattered once) or a dask array. Decisions are made here, on the client, and
    shipped with every task, so the labels are those of a single-process run. At most
    ``window`` blocks (default: 2 per worker thread) are in flight. Returns (out, count).
    """
    model = model or NucleusModel()
    s = Settings.of(**settings)
    source = PathSource(str(source)) if isinstance(source, (str, Path)) else source
    local = _opened(source) if isinstance(source, PathSource) else source
    d = decisions or model.decide(local, s)[0]
    remote = client.scatter(source, broadcast=True) if isinstance(source, np.ndarray) else source
    blocks = model.plan(local.shape, s, d, margin)
    window = window or 2 * max(1, sum(client.nthreads().values()))

    def submit(block: Block):
        if hasattr(remote, "compute"):  # a dask array: the cluster computes the block's data
            data = client.compute(remote[block.region])
            whole = (slice(None), slice(None))
            return client.submit(label_block, data, whole, model, s, d, pure=False)
        return client.submit(label_block, remote, block.region, model, s, d, pure=False)

    labelled = in_order(submit, blocks, window)
    return stitch_all(local.shape, out, blocks, labelled, s.min_size, progress)
