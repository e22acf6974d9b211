"""Opening big images lazily as 2D arrays: tiled TIFF (as zarr), zarr / OME-Zarr, small files.

Used by ``segment-large`` and by the cluster tasks that reopen a file on a worker.
"""

from __future__ import annotations

from pathlib import Path

from .._io import as_image2d, tiff_axes


def _tiff_axes(path: Path, ndim: int) -> str | None:
    """The axes the file's metadata name (``_io.tiff_axes``), when they fit ``ndim``."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        axes = tiff_axes(tif.series[0].axes)
    return axes if axes is not None and len(axes) == ndim else None


def _zarr_node(path: Path, axes: str | None):
    """The full-resolution array of a zarr or OME-Zarr store, and its axes when named."""
    import zarr

    node = zarr.open(str(path), mode="r")
    if not isinstance(node, zarr.Group):
        return node, axes
    attrs = dict(node.attrs)
    scales = attrs.get("ome", attrs).get("multiscales")
    if not scales:
        raise ValueError(f"{path}: a zarr group without OME-Zarr multiscales metadata")
    names = [a["name"] if isinstance(a, dict) else str(a) for a in scales[0].get("axes", [])]
    return node[scales[0]["datasets"][0]["path"]], axes or ("".join(names).upper() or None)


def open_source(path: str | Path, axes: str | None = None, channel: int | None = None):
    """A big TIFF (read as zarr, lazily), a zarr / OME-Zarr store or a small image, as 2D."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile
        import zarr

        node = zarr.open(tifffile.imread(path, aszarr=True), mode="r")
        node = node["0"] if isinstance(node, zarr.Group) else node  # a pyramid's full level
        axes = axes or _tiff_axes(path, node.ndim)
    elif path.is_dir() or path.suffix.lower() == ".zarr":
        node, axes = _zarr_node(path, axes)
    else:
        from .._io import read_image

        node = read_image(path)
    return as_image2d(node, axes, channel)
