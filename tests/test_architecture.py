"""The shape of the package: no import cycles, arrows pointing down, Qt only in the Qt modules."""

from __future__ import annotations

import ast
from pathlib import Path

import napari_unet_nuclei

PACKAGE = Path(napari_unet_nuclei.__file__).parent
NAME = "napari_unet_nuclei"
GUI = {"napari", "magicgui", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt", "vispy"}
GUI_ALLOWED = ("_widget", "_qt.", "_writer", "_sample_data")  # the npe2 entry points and Qt
SUBPACKAGES = ("cli", "training", "export", "batch", "_qt")  # everything else: the engine's stages
MAX_TOP_MODULES = 22
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__") or "__init__"


def imports(path: Path) -> set[str]:
    """Every module this file imports (top-level, inside functions, relative or absolute)."""
    here = module_name(path).split(".")
    package = here[:-1] if path.name != "__init__.py" else here
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                if node.module:
                    found.add(".".join([NAME, *base, *node.module.split(".")]).strip("."))
                else:  # from . import a, b: the modules a and b, not the package
                    found |= {f"{NAME}.{'.'.join([*base, a.name]).strip('.')}" for a in node.names}
            else:
                found.add(node.module or "")
    return found


def graph() -> dict[str, set[str]]:
    """Package-internal imports: module -> modules it imports (names relative to the package)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        inner = {m[len(NAME) + 1 :] for m in imports(path) if m.startswith(NAME + ".")}
        edges[name] = {m for m in inner if m in modules and m != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_relative_imports():
    edges = graph()
    assert "_engine" in edges["_api"] and "_inference" in edges["_engine"]
    assert "_stack" in edges["_engine"] and "_engine" in edges["_qt._run"]
    assert "cli.evaluate" in edges["cli.app"]  # from . import evaluate


def test_no_import_cycle_in_the_package():
    edges = {k: v - {"__init__"} for k, v in graph().items()}  # the package itself: its API
    assert cycles(edges) == []


def is_engine(module: str) -> bool:
    """The pipeline's stages: the top-level modules, less the public surface and the widget."""
    return "." not in module and module not in {"__init__", "_widget", *SUBPACKAGES}


def test_the_engine_imports_no_front_no_training_and_no_qt():
    for module, targets in graph().items():
        if not is_engine(module):
            continue
        bad = {t for t in targets if t.split(".")[0] in SUBPACKAGES or t == "_widget"}
        assert not bad, f"the engine's {module} imports {sorted(bad)}"


def test_only_the_command_line_imports_the_command_line():
    for module, targets in graph().items():
        if module.split(".")[0] == "cli":
            continue
        assert not {t for t in targets if t.split(".")[0] == "cli"}, module


def test_the_pipeline_is_readable_from_the_file_list():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "_version")
    assert len(top) <= MAX_TOP_MODULES, top
    for sub in ("cli", "training", "export", "batch", "_qt"):
        assert (PACKAGE / sub / "__init__.py").is_file(), sub


def test_no_function_is_longer_than_a_screen():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module_name(path)}.{node.name}: {lines} lines")
    assert long == []


def test_no_napari_or_qt_outside_the_qt_modules():
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name.startswith(GUI_ALLOWED) or name in {"_widget", "_writer", "_sample_data"}:
            continue
        gui = {m for m in imports(path) if m.split(".")[0] in GUI}
        assert not gui, f"{name} imports {sorted(gui)}"
