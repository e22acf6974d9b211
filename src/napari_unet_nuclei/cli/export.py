"""``napari-unet-nuclei export``: write a model as a BioImage Model Zoo (bioimage.io) package."""

from __future__ import annotations

import argparse
import sys

from .common import new_output, one_line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``napari-unet-nuclei export``."""
    p.add_argument("model", help="general, stained, or a weights file (.pt), e.g. a fine-tuned one")
    p.add_argument("output", help="the package to write (.zip); never replaced")
    p.add_argument("--name", default=None, help="the model's name in the package")
    p.add_argument("--description", default=None, help="one or two sentences on the model")
    p.add_argument(
        "--author",
        action="append",
        default=None,
        help="an author's name (repeat for several; default: the plugin's developers)",
    )


def can_validate() -> bool:
    """True when bioimageio.spec is installed (the ``export`` extra)."""
    import importlib.util

    try:
        return importlib.util.find_spec("bioimageio.spec") is not None
    except ImportError:  # no bioimageio at all
        return False


def run(args: argparse.Namespace) -> int:
    """Export and validate; exit 0 when written (and valid), 1 when invalid, 2 on errors.

    An invalid package is not written: it is validated before it takes its name.
    """
    from ..export.package import InvalidPackageError, export_bioimageio

    out = new_output(args.output, "export")
    if out is None:
        return 2
    validate = can_validate()
    try:
        path = export_bioimageio(
            args.model,
            out,
            name=args.name,
            description=args.description,
            authors=args.author,
            validate=validate,
        )
    except InvalidPackageError as exc:
        print(
            f"error: bioimageio.spec found problems, so no package was written: {one_line(exc)}",
            file=sys.stderr,
        )
        return 1
    except (FileNotFoundError, FileExistsError, ValueError, OSError, RuntimeError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    if validate:
        print("bioimageio.spec: the package is valid (format and files, checked offline)")
    else:
        print(
            "not validated: bioimageio.spec is not installed "
            "(pip install 'napari-unet-nuclei[export]')"
        )
    return 0
