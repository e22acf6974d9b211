"""``napari-unet-nuclei export``: write a model as a BioImage Model Zoo (bioimage.io) package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def validation_report(path: Path) -> tuple[int, str]:
    """(exit code, message) of validating the package offline, when bioimageio.spec is there."""
    try:
        from ..export.package import validate_package

        report = validate_package(path)
    except ImportError:
        return 0, (
            "not validated: bioimageio.spec is not installed "
            "(pip install 'napari-unet-nuclei[export]')"
        )
    if report is None:
        return 0, "bioimageio.spec: the package is valid (format and files, checked offline)"
    return 1, f"bioimageio.spec found problems:\n{report}"


def run(args: argparse.Namespace) -> int:
    """Export and validate; exit 0 when written (and valid), 1 when invalid, 2 on errors."""
    from ..export.package import export_bioimageio

    out = new_output(args.output, "export")
    if out is None:
        return 2
    try:
        path = export_bioimageio(
            args.model, out, name=args.name, description=args.description, authors=args.author
        )
    except (FileNotFoundError, FileExistsError, ValueError, OSError, RuntimeError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    code, message = validation_report(path)
    print(message, file=sys.stderr if code else sys.stdout)
    return code
