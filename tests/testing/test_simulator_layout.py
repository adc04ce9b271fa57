"""The simulator's modules (``testing/``) form no import cycle, and each one imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import airflow_provider_fivetran_update.testing as testing_package

PACKAGE = testing_package.__name__
MODULES = sorted(path.stem for path in Path(testing_package.__file__).parent.glob("*.py"))


def _imported_modules(stem: str) -> set[str]:
    """The ``testing`` modules ``stem`` imports, ``TYPE_CHECKING`` ones too (``__init__``: the package)."""
    tree = ast.parse((Path(testing_package.__file__).parent / f"{stem}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    found = {name.removeprefix(PACKAGE + ".") for name in names if name.startswith(PACKAGE + ".")}
    if PACKAGE in names:
        found.add("__init__")
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            found = visit(target, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert _cycle({"app": {"simulator"}, "simulator": {"server"}, "server": {"app"}}) == [
        "app",
        "simulator",
        "server",
        "app",
    ]


def test_the_testing_modules_import_each_other_without_a_cycle() -> None:
    graph = {stem: _imported_modules(stem) for stem in MODULES}
    assert graph["simulator"] >= {"core", "app", "server"}  # the graph is read, not empty
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_each_testing_module_imports_first_in_a_fresh_interpreter() -> None:
    script = (
        "import importlib, sys\n"
        f"for stem in {[stem for stem in MODULES if stem != '__init__']!r}:\n"
        f"    for name in [n for n in sys.modules if n == {PACKAGE!r} or n.startswith({PACKAGE + '.'!r})]:\n"
        "        del sys.modules[name]\n"
        f"    importlib.import_module({PACKAGE + '.'!r} + stem)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
