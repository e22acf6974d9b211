"""The command line: argparse fronts of the engine (imports it; never imported by it)."""

from .app import main

__all__ = ["main"]
