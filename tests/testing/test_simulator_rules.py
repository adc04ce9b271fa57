"""The simulator's own reading of Fivetran's PATCH rules (``testing/fivetran_rules.py``).

The pure function is checked case by case, Fivetran's example bodies are sent over loopback HTTP,
and the module is checked to share nothing with the provider's field catalogue.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import requests

import airflow_provider_fivetran_update.testing as testing_package
from airflow_provider_fivetran_update.testing import FivetranSimulator
from airflow_provider_fivetran_update.testing.fivetran_rules import (
    UPDATABLE_FIELDS,
    check_update_body,
    update_payload,
)
from tests.helpers import SHARED_FIVETRAN
from tests.simulator_credentials import KEY, SECRET

pytest_plugins = ["tests.simulator_fixtures"]

SHARED = SHARED_FIVETRAN
REFERENCE = SHARED / "update-a-connection.txt"
OPENAPI = SHARED / "fivetran-openapi.json"
needs_documents = pytest.mark.skipif(
    not (REFERENCE.is_file() and OPENAPI.is_file()), reason=f"Fivetran's documents are not in {SHARED}"
)


def reference_example() -> dict[str, Any]:
    """The request body of the example on Fivetran's reference page."""
    text = REFERENCE.read_text()
    start = text.index("{", text.index("Content-Length"))
    body, _ = json.JSONDecoder().raw_decode(text[start:])
    assert isinstance(body, dict)
    return body


def openapi_example() -> dict[str, Any]:
    """A body made of the ``example`` of every UpdateConnectorRequest property that has one."""
    spec = json.loads(OPENAPI.read_text())
    properties = spec["components"]["schemas"]["UpdateConnectorRequest"]["properties"]
    return {name: prop["example"] for name, prop in properties.items() if "example" in prop}


def patch(sim: FivetranSimulator, connection_id: str, body: dict[str, Any]) -> requests.Response:
    return requests.patch(
        f"{sim.url}/v1/connections/{connection_id}",
        json=body,
        auth=(KEY, SECRET),
        headers={"Accept": "application/json;version=2"},
    )


# -- Fivetran's own examples ---------------------------------------------------------------------------


@needs_documents
def test_the_reference_page_example_is_accepted_and_applied(sim: FivetranSimulator) -> None:
    body = reference_example()
    assert body["data_delay_sensitivity"] == "LOW" and body["data_delay_threshold"] == 0
    assert check_update_body(body) == []
    sim.add_connection("conn_a", sync_frequency=360)
    response = patch(sim, "conn_a", body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["sync_frequency"] == 1440 and data["daily_sync_time"] == "14:00"
    assert data["status"]["schema_status"] == "blocked_on_capture"
    assert data["status"]["is_historical_sync"] is True
    assert data["data_delay_sensitivity"] == "LOW" and data["data_delay_threshold"] == 0
    assert data["destination_configuration"] == {"virtual_warehouse": "virtual_warehouse"}
    assert "trust_certificates" not in data and "run_setup_tests" not in data
    assert sim.raw_connection("conn_a")["config"] == {}  # "config": null changes nothing


@needs_documents
def test_the_openapi_property_examples_are_accepted() -> None:
    body = openapi_example()
    assert {"sync_frequency", "schema_status", "schedule_type", "daily_sync_time"} <= set(body)
    assert check_update_body(body) == []


def test_every_openapi_update_field_is_known() -> None:
    if not OPENAPI.is_file():
        pytest.skip(f"Fivetran's OpenAPI is not at {OPENAPI}")
    spec = json.loads(OPENAPI.read_text())
    assert set(spec["components"]["schemas"]["UpdateConnectorRequest"]["properties"]) == set(UPDATABLE_FIELDS)


# -- accepted, as the documents allow -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"data_delay_threshold": 30, "data_delay_sensitivity": "NORMAL"},  # unused, not an error
        {"data_delay_threshold": 30, "data_delay_sensitivity": "CUSTOM"},
        {"daily_sync_time": "03:00"},  # whatever the stored frequency
        {"daily_sync_time": "03:00", "sync_frequency": 60},
        {"daily_sync_time": "14:30", "sync_frequency": 1440},  # the update schema says HH:MM
        {"sync_frequency": "60"},  # the OpenAPI lists the values as strings
        {"sync_frequency": 60.0},
        {"schema_status": "BLOCKED_ON_CAPTURE"},
        {"schema_status": "ready"},
        {"paused": True, "trust_certificates": True},  # run_setup_tests defaults to true
        {"paused": True, "trust_fingerprints": True, "run_setup_tests": True},
        {"config": None, "auth": None, "paused": False},
        {"networking_method": "SshTunnel", "proxy_agent_id": "agent"},
        {"external_secrets_keys_config": ["password"]},
        {"destination_configuration": {}},
    ],
)
def test_bodies_the_documents_allow_are_accepted(body: dict[str, Any]) -> None:
    assert check_update_body(body) == []


def test_update_payload_is_what_the_simulator_stores() -> None:
    assert update_payload(
        {"sync_frequency": "60", "schema_status": "BLOCKED_ON_CAPTURE", "config": None, "paused": True}
    ) == {"sync_frequency": 60, "schema_status": "blocked_on_capture", "paused": True}
    assert update_payload({"data_delay_threshold": 5.0, "sync_frequency": 1440.0}) == {
        "data_delay_threshold": 5,
        "sync_frequency": 1440,
    }
    with pytest.raises(ValueError, match="schedule_type"):
        update_payload({"schedule_type": "weekly"})


# -- refused, with a message naming the field and what is allowed ------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"paused": "true"}, ["'paused'", "boolean"]),
        ({"is_historical_sync": 1}, ["'is_historical_sync'", "boolean"]),
        ({"sync_frequency": 61}, ["'sync_frequency'", "1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440"]),
        ({"sync_frequency": True}, ["'sync_frequency'", "1440"]),
        ({"sync_frequency": " 60"}, ["'sync_frequency'"]),
        ({"data_delay_threshold": "0", "paused": True}, ["'data_delay_threshold'", "integer"]),
        ({"data_delay_threshold": 2**31}, ["'data_delay_threshold'", "integer"]),
        ({"data_delay_sensitivity": "low"}, ["'data_delay_sensitivity'", "LOW, NORMAL, HIGH, CUSTOM"]),
        ({"daily_sync_time": "24:00"}, ["'daily_sync_time'", "HH:MM"]),
        ({"daily_sync_time": "9:00"}, ["'daily_sync_time'", "HH:MM"]),
        ({"schedule_type": "AUTO"}, ["'schedule_type'", "auto, manual"]),
        ({"networking_method": "UnmanagedProxyAgent"}, ["'networking_method'", "Directly, PrivateLink"]),
        (
            {"destination_configuration": {"warehouse": "x"}},
            ["destination_configuration", "virtual_warehouse"],
        ),
        ({"pasued": True}, ["'pasued'", "Did you mean 'paused'?"]),
        ({"schedule": {"schedule_type": "interval"}}, ["'schedule'", "sync_frequency"]),
        ({"service": "postgres"}, ["'service'"]),
        ({}, ["payload", "persistent parameter"]),
        ({"paused": None}, ["persistent parameter"]),
        ({"run_setup_tests": True}, ["run_setup_tests", "/test"]),
        (
            {"trust_certificates": True, "trust_fingerprints": True},
            ["trust_certificates, trust_fingerprints"],
        ),
        (
            {"paused": True, "trust_certificates": True, "run_setup_tests": False},
            ["trust_certificates", "run_setup_tests=false"],
        ),
    ],
)
def test_bodies_the_documents_forbid_are_refused(body: dict[str, Any], expected: list[str]) -> None:
    problems = check_update_body(body)
    assert len(problems) == 1, problems
    for fragment in expected:
        assert fragment in problems[0]


def test_every_problem_is_reported_and_secrets_are_not_repeated() -> None:
    problems = check_update_body(
        {"config": "password=hunter2", "auth": ["token-abc"], "paused": "no", "colour": "blue"}
    )
    assert len(problems) == 4
    text = " ".join(problems)
    assert "hunter2" not in text and "token-abc" not in text
    assert "'config'" in text and "'auth'" in text and "'no'" in text and "'colour'" in text


def test_refusals_over_http_are_400_invalid_input_and_change_nothing(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a")
    before = sim.connection("conn_a")
    response = patch(sim, "conn_a", {"paused": "true", "sync_frequency": 61})
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidInput"
    assert "'paused'" in response.json()["message"] and "'sync_frequency'" in response.json()["message"]
    assert sim.connection("conn_a") == before
    assert sim.request_count("PATCH", "/v1/connections/conn_a") == 1


def test_daily_sync_time_is_kept_until_the_frequency_is_daily(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a", sync_frequency=360)
    first = patch(sim, "conn_a", {"daily_sync_time": "05:00", "run_setup_tests": False})
    assert first.status_code == 200, first.text
    assert "daily_sync_time" not in first.json()["data"]
    daily = patch(sim, "conn_a", {"sync_frequency": 1440, "run_setup_tests": False}).json()["data"]
    assert daily["daily_sync_time"] == "05:00"


# -- independence ----------------------------------------------------------------------------------


def test_the_simulator_does_not_judge_with_the_provider_rules() -> None:
    package = Path(testing_package.__file__).parent
    rules = ast.parse((package / "fivetran_rules.py").read_text())
    imported = {node.module or "" for node in ast.walk(rules) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(rules) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not any(name.startswith("airflow") for name in imported), imported
    for module in package.glob("*.py"):
        source = module.read_text()
        assert "airflow_provider_fivetran_update.fields" not in source, module.name
        assert "build_update_payload" not in source, module.name


@pytest.mark.parametrize("value", [[], [60], {}, {"a": 1}, "x", "", 1, -1, 1.5, True, False, None, 2**40])
def test_any_json_value_in_any_field_is_judged_without_an_error(value: Any) -> None:
    for name in UPDATABLE_FIELDS:
        problems = check_update_body({name: value, "paused": True})
        assert isinstance(problems, list)
        assert all(isinstance(problem, str) for problem in problems)
