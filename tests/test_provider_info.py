"""The provider metadata: valid for Airflow, complete, and what Airflow's providers manager and CLI see."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from airflow_provider_fivetran_update import __version__
from airflow_provider_fivetran_update.get_provider_info import get_provider_info
from tests.airflow_helpers import cli_json

PACKAGE = "airflow-provider-fivetran-update"
HOOK = "airflow_provider_fivetran_update.hooks.fivetran.FivetranHook"
LINK = "airflow_provider_fivetran_update.links.FivetranConnectionLink"


def _import_object(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.fixture(scope="module")
def airflow_cli() -> dict[str, Any]:
    """``airflow providers list|hooks|links -o json`` in the tests' AIRFLOW_HOME, run side by side."""
    commands = ("list", "hooks", "links")
    processes = {
        command: subprocess.Popen(
            [sys.executable, "-m", "airflow", "providers", command, "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for command in commands
    }
    outputs: dict[str, Any] = {}
    for command, process in processes.items():
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
        outputs[command] = cli_json(stdout)
    return outputs


def test_validates_against_airflows_provider_info_schema() -> None:
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_identity_and_entry_point() -> None:
    info = get_provider_info()
    assert info["package-name"] == PACKAGE
    assert info["versions"] == [__version__]
    (entry_point,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.dist.name == PACKAGE]
    assert entry_point.load() is get_provider_info


def test_every_listed_module_and_class_exists() -> None:
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        (entry,) = info[section]
        assert entry["integration-name"] == "Fivetran"
        for module in entry["python-modules"]:
            importlib.import_module(module)
    (connection_type,) = info["connection-types"]
    hook = _import_object(connection_type["hook-class-name"])
    assert connection_type["connection-type"] == hook.conn_type == "fivetran"
    assert connection_type["hook-name"] == hook.hook_name
    assert info["extra-links"] == [LINK]
    assert _import_object(LINK)().name == "Fivetran"
    # The path the link had before it got a module of its own still imports the same class.
    assert _import_object("airflow_provider_fivetran_update.operators.fivetran.FivetranConnectionLink") is (
        _import_object(LINK)
    )


def test_connection_form_declaration() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    behaviour = connection_type["ui-field-behaviour"]
    assert sorted(behaviour["hidden-fields"]) == ["extra", "port", "schema"]
    assert behaviour["relabeling"] == {
        "login": "API Key",
        "password": "API Secret",
        "host": "API base URL (optional)",
    }
    assert connection_type["conn-fields"] == {}


def test_providers_manager_loads_the_declarations() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.providers[PACKAGE].version == __version__
    assert LINK in manager.extra_links_class_names
    behaviour = manager.field_behaviours["fivetran"]
    assert behaviour["hidden_fields"] == ["schema", "port", "extra"]
    assert behaviour["relabeling"]["password"] == "API Secret"


@pytest.mark.airflow
def test_airflow_providers_list_shows_the_provider(airflow_cli: dict[str, Any]) -> None:
    providers = {row["package_name"]: row for row in airflow_cli["list"]}
    assert providers[PACKAGE]["version"] == __version__


@pytest.mark.airflow
def test_airflow_providers_hooks_shows_the_fivetran_connection_type(airflow_cli: dict[str, Any]) -> None:
    hooks = {row["connection_type"]: row for row in airflow_cli["hooks"]}
    assert hooks["fivetran"]["class"] == HOOK
    assert hooks["fivetran"]["package_name"] == PACKAGE
    assert hooks["fivetran"]["conn_id_attribute_name"] == "fivetran_conn_id"


@pytest.mark.airflow
def test_airflow_providers_links_shows_the_link(airflow_cli: dict[str, Any]) -> None:
    links = [row["extra_link_class_name"] for row in airflow_cli["links"]]
    assert LINK in links
