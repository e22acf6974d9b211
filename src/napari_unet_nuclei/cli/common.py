"""Options and messages shared by the command-line fronts (no engine code here)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def one_line(exc: BaseException) -> str:
    """An error in one line: its message, with the type when that says more."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (ValueError, OSError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def diameter_value(text: str) -> float | str | None:
    """``auto``, ``none`` (run at the image's own scale) or a diameter in pixels."""
    from .._settings import parse_diameter

    try:
        return parse_diameter(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected auto, none or a positive number of pixels, got {text!r}"
        ) from None


def segment_settings(args: argparse.Namespace) -> dict:
    """The segmentation settings a command's options give (``Settings`` names)."""
    names = dict(
        threshold="threshold", min_size="min_size", diameter="diameter", tta="tta", stain="stain"
    )
    settings = {
        name: getattr(args, option) for name, option in names.items() if hasattr(args, option)
    }
    if hasattr(args, "no_split"):
        settings["split"] = not args.no_split
    return settings


class RenamedOption(argparse.Action):
    """An option's name of the previous release: still works, and says what replaces it."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        """Warn on stderr, then set the new option's value."""
        print(f"warning: {option_string} is deprecated: use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed_option(p: argparse.ArgumentParser, old: str, new: str, **kwargs) -> None:
    """``old`` as a hidden alias of the option ``new`` (same destination), for one release."""
    dest = new.lstrip("-").replace("-", "_")
    p.add_argument(old, dest=dest, action=RenamedOption, new=new, help=argparse.SUPPRESS, **kwargs)


def add_diameter_argument(p: argparse.ArgumentParser) -> None:
    """The shared ``--diameter`` option."""
    p.add_argument(
        "--diameter",
        type=diameter_value,
        default="auto",
        help="typical nucleus diameter in pixels; 'auto' (default) estimates it, "
        "'none' runs at the image's own scale",
    )


def add_stain_argument(p: argparse.ArgumentParser) -> None:
    """The shared ``--stain`` option: what the network is given of a colour image."""
    from .._settings import STAINS

    p.add_argument(
        "--stain",
        choices=STAINS,
        default="auto",
        help="colour images: 'auto' (default) gives stained tissue rich in eosin (H&E) as its "
        "haematoxylin channel and every other image as grey; 'grey' or 'haematoxylin' for all",
    )


def add_overwrite_argument(p: argparse.ArgumentParser) -> None:
    """The shared ``--overwrite`` option."""
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs of an earlier run (never other files, never inputs)",
    )


def new_output(path: str, action: str) -> Path | None:
    """``path`` for an output that is never replaced, or None after printing why not."""
    from .._outputs import UnsafeOutputError, check_new_file

    try:
        return check_new_file(path, action)
    except UnsafeOutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
