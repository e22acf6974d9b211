"""What ``train`` does, as one frozen value: ``TrainConfig``, its data folders and recipe files.

The command line builds a ``TrainConfig`` (``cli/train.py``); scripts can build one directly.
Every value is checked once, on creation: a bad one raises ``ConfigError`` naming the option.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

KIND_WEIGHTS = {"fluorescence": 0.6, "stained": 0.3, "brightfield": 0.1}


class ConfigError(ValueError):
    """A training option or recipe file that cannot work; the message names it, in a line."""


@dataclass(frozen=True)
class DataSource:
    """A data folder and its sampling weight: its share of the crops is weight / sum of weights."""

    folder: Path
    weight: float = 1.0


def parse_source(text: str) -> DataSource:
    """``DIR`` or ``DIR:WEIGHT`` (a path that exists as given is always a folder, never split)."""
    head, sep, tail = text.rpartition(":")
    if not sep or Path(text).exists():
        return DataSource(Path(text))
    try:
        weight = float(tail)
    except ValueError:
        return DataSource(Path(text))  # a colon that is part of the name
    if not head:
        raise ConfigError(f"--data: no folder before the weight in {text!r}")
    return DataSource(Path(head), weight)


def parse_kind_weights(text: str, base: dict[str, float] | None = None) -> dict[str, float]:
    """``"fluorescence=0.5,stained=0.4"`` -> ``base`` (default KIND_WEIGHTS) with those replaced."""
    weights = dict(KIND_WEIGHTS if base is None else base)
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, sep, value = item.partition("=")
        try:
            weights[kind.strip()] = float(value) if sep else float("nan")
        except ValueError:
            weights[kind.strip()] = float("nan")
        if not weights[kind.strip()] >= 0:
            raise ConfigError(f"--kind-weights: expected kind=weight >= 0, got {item!r}")
    return weights


def _recipe_table(path: Path) -> dict:
    """The parsed recipe file; a ConfigError for a missing or malformed one."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--recipe {path}: cannot read it as TOML ({exc})") from exc


def read_recipe(path: str | Path) -> tuple[tuple[DataSource, ...], dict[str, float]]:
    """The folders (relative ones from the recipe's own folder) and kind weights of a recipe.

    A recipe is a TOML file: ``[[data]]`` tables with ``folder`` and an optional ``weight``
    (default 1), and an optional ``[kinds]`` table of kind weights (others keep KIND_WEIGHTS).
    """
    path = Path(path)
    table = _recipe_table(path)
    unknown = sorted(set(table) - {"data", "kinds"})
    rows, kinds = table.get("data", []), table.get("kinds", {})
    if unknown or not isinstance(rows, list) or not isinstance(kinds, dict):
        raise ConfigError(f"--recipe {path}: expected [[data]] tables and a [kinds] table only")
    sources = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("folder"), str):
            raise ConfigError(f'--recipe {path}: every [[data]] needs folder = "..."')
        if set(row) - {"folder", "weight"}:
            raise ConfigError(f"--recipe {path}: [[data]] takes only folder and weight")
        weight = row.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ConfigError(f"--recipe {path}: weight of {row['folder']} must be a number")
        sources.append(DataSource(path.parent / row["folder"], float(weight)))
    text = ",".join(f"{k}={v}" for k, v in kinds.items())
    return tuple(sources), parse_kind_weights(text)


def _check(ok: bool, option: str, rule: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"--{option.replace('_', '-')} must be {rule}, got {value!r}")


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_sources(data: tuple[DataSource, ...]) -> None:
    """At least one folder, each with a finite weight > 0."""
    _check(len(data) > 0, "data", "at least one folder", data)
    for source in data:
        ok = _positive(source.weight) and math.isfinite(source.weight)
        _check(ok, "data", "a folder with a weight > 0", f"{source.folder}:{source.weight}")


def _check_counts(config: TrainConfig) -> None:
    """The whole-number options."""
    for name in ("steps", "batch", "base", "depth", "log_every", "checkpoint_every"):
        value = getattr(config, name)
        _check(_whole(value) and value >= 1, name, "a whole number >= 1", value)
    for name in ("seed", "threads", "workers"):
        value = getattr(config, name)
        _check(_whole(value) and value >= 0, name, "a whole number >= 0", value)
    _check(_whole(config.crop) and config.crop >= 16, "crop", "a whole number >= 16", config.crop)


def _check_ranges(c: TrainConfig) -> None:
    """The real-valued options and the kind weights."""
    _check(_positive(c.zoom_min), "zoom_min", "> 0", c.zoom_min)
    ok = _positive(c.zoom_max) and c.zoom_max >= c.zoom_min
    _check(ok, "zoom_max", f">= --zoom-min ({c.zoom_min})", c.zoom_max)
    _check(c.diameter == 0 or _positive(c.diameter), "diameter", ">= 0", c.diameter)
    ok = _positive(c.strong_share) and c.strong_share <= 1
    _check(ok, "strong_share", "a share in (0, 1]", c.strong_share)
    _check(_positive(c.lr) and math.isfinite(c.lr), "lr", "> 0", c.lr)
    kinds = c.kinds
    ok = all(v == 0 or (_positive(v) and math.isfinite(v)) for v in kinds.values())
    ok = ok and any(v > 0 for v in kinds.values())
    _check(ok, "kind_weights", "weights >= 0, not all 0", kinds)


@dataclass(frozen=True)
class TrainConfig:
    """Every option of ``train``; the defaults are the command line's."""

    data: tuple[DataSource, ...]
    output: Path | None = None  # None: a new TRAINED_WEIGHTS in the current folder
    overwrite: bool = False
    run_dir: Path = Path("runs/train")
    steps: int = 7000
    batch: int = 8
    crop: int = 160
    zoom_min: float = 0.5
    zoom_max: float = 2.0
    diameter: float = 0.0  # 0: keep each image's own scale
    blur: bool = False
    strong: bool = False
    strong_share: float = 1.0
    kind_weights: tuple[tuple[str, float], ...] = tuple(KIND_WEIGHTS.items())
    init: Path | None = None
    lr: float = 3e-3
    base: int = 16
    depth: int = 4
    seed: int = 0
    device: str = "cpu"
    threads: int = 0
    workers: int = 0
    log_every: int = 50
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        sources = tuple(s if isinstance(s, DataSource) else DataSource(Path(s)) for s in self.data)
        object.__setattr__(self, "data", sources)
        for name in ("output", "run_dir", "init"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        _check_sources(self.data)
        _check_counts(self)
        _check_ranges(self)

    @property
    def kinds(self) -> dict[str, float]:
        """The kind weights as a dict."""
        return dict(self.kind_weights)

    def as_dict(self) -> dict:
        """Plain JSON values (paths as text), for checkpoints and the weights' metadata."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["data"] = [{"folder": str(s.folder), "weight": s.weight} for s in self.data]
        out["kind_weights"] = dict(self.kind_weights)
        for name in ("output", "run_dir", "init"):
            out[name] = None if out[name] is None else str(out[name])
        return out
