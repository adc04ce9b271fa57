"""The package's modules import on their own, in any order, with no import cycle between them."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import airflow_provider_fivetran_update

PACKAGE = airflow_provider_fivetran_update.__name__
ROOT = Path(airflow_provider_fivetran_update.__file__).parent


def _modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(airflow_provider_fivetran_update.__path__, prefix=f"{PACKAGE}.")
        # The simulator is an application of its own; a __main__ module runs a command when imported.
        if not info.name.startswith(f"{PACKAGE}.testing") and not info.name.endswith("__main__")
    ]
    assert f"{PACKAGE}.links" in names and f"{PACKAGE}.operators.fivetran" in names
    return sorted(names)


def _path(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package = ROOT / relative / "__init__.py"
    return package if package.exists() else (ROOT / relative).with_suffix(".py")


def _import_time_imports(module: str, known: set[str]) -> set[str]:
    """The package modules ``module`` imports when it is imported (not in functions, not for typing)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)

    visit(ast.parse(_path(module).read_text()).body)
    return {name for name in found if name in known and name != module}


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {module: _import_time_imports(module, set(modules)) for module in modules}
    cycles: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append([*path[path.index(module) :], module])
            return
        for target in sorted(graph[module]):
            walk(target, [*path, module])

    for module in modules:
        walk(module, [])
    assert not cycles, cycles[0]


def test_each_module_imports_alone() -> None:
    # One interpreter; before each import every module of the package is forgotten, so each one
    # gets to be imported first, the order in which a cycle would break.
    code = (
        "import importlib, sys\n"
        "import airflow\n"
        "failures = {}\n"
        "for module in sys.argv[1:]:\n"
        f"    for loaded in [name for name in sys.modules if name.startswith('{PACKAGE}')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(module)\n"
        "    except Exception as error:\n"
        "        failures[module] = repr(error)\n"
        "assert not failures, failures\n"
    )
    subprocess.run([sys.executable, "-c", code, *_modules()], check=True, env=os.environ.copy())


def test_sensors_and_sync_operators_do_not_load_the_update_operator() -> None:
    code = (
        "import sys\n"
        f"import {PACKAGE}.sensors.fivetran, {PACKAGE}.sensors.sync, {PACKAGE}.operators.sync\n"
        f"assert '{PACKAGE}.operators.fivetran' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def test_modules_that_moved_keep_their_public_names() -> None:
    from airflow_provider_fivetran_update import api, client, links
    from airflow_provider_fivetran_update.hooks import options
    from airflow_provider_fivetran_update.operators import fivetran

    assert client.__all__ == api.__all__
    assert all(getattr(client, name) is getattr(api, name) for name in api.__all__)
    assert all(getattr(fivetran, name) is getattr(links, name) for name in links.__all__)
    assert options.FivetranHookOptions is options.FivetranHookOptionsMixin
