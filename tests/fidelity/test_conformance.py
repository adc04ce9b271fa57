"""What the hook sends, and what the simulator answers, against Fivetran's own OpenAPI definition.

Request bodies are checked against ``components.schemas.UpdateConnectorRequest``; GET and PATCH
answers against the 200 response schema of ``/v1/connections/{connectionId}``. ``$ref`` is resolved
by jsonschema through a ``referencing`` registry holding the whole definition.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.helpers import SHARED_FIVETRAN

OPENAPI = SHARED_FIVETRAN / "fivetran-openapi.json"
SPEC_URI = "urn:fivetran:openapi"
CONNECTION_PATH = "/v1/connections/{connectionId}"
CONN = "conn_a"

pytestmark = pytest.mark.skipif(
    not OPENAPI.is_file(), reason=f"Fivetran's OpenAPI definition is not available at {OPENAPI}"
)


def _pointer(*parts: str) -> str:
    """A JSON pointer fragment (RFC 6901 escaping, then URI-safe braces)."""
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return "#/" + "/".join(escaped).replace("{", "%7B").replace("}", "%7D")


def _adapted(spec: dict[str, Any]) -> dict[str, Any]:
    """The definition with its known quirks made explicit, so the rest is checked as written.

    * ``sync_frequency`` is declared ``"type": "integer"`` with an enum of *strings* ("1", ...,
      "1440"): no value can satisfy both, and the API sends and accepts integers. The enum is
      turned into the same numbers, as integers.
    * The definition is OpenAPI 3.0 without ``nullable``, yet its descriptions say several fields
      are "`null` if ..." (``succeeded_at``, ``failed_at``, ``daily_sync_time``,
      ``connected_by``, ...), and the API does answer null for them. Properties whose description
      documents a null answer also accept null.
    """
    spec = copy.deepcopy(spec)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                for name, prop in properties.items():
                    if not isinstance(prop, dict):
                        continue
                    if name == "sync_frequency" and prop.get("type") == "integer" and "enum" in prop:
                        prop["enum"] = [int(value) for value in prop["enum"]]
                    if "`null`" in str(prop.get("description", "")) and isinstance(prop.get("type"), str):
                        prop["type"] = [prop["type"], "null"]
                        if "enum" in prop:
                            prop["enum"] = [*prop["enum"], None]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(spec)
    return spec


@cache
def _original_spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(OPENAPI.read_text())
    return loaded


@cache
def _registry_and_spec() -> tuple[Any, dict[str, Any]]:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    spec = _adapted(_original_spec())
    # OpenAPI 3.0 schemas are a JSON Schema draft-4/5 dialect.
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4))
    return registry, spec


def _validator(fragment: str) -> Any:
    from jsonschema import Draft4Validator

    registry, _ = _registry_and_spec()
    return Draft4Validator({"$ref": SPEC_URI + fragment}, registry=registry)


def _errors(validator: Any, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    with FivetranSimulator() as simulator:
        simulator.add_connection(
            CONN,
            service="postgres",
            sync_frequency=1440,
            daily_sync_time="14:00",
            config={"host": "db", "port": 5432, "password": "pw"},
        )
        monkeypatch.setenv("AIRFLOW_CONN_FIVETRAN_DEFAULT", simulator.airflow_connection_json())
        yield simulator


RESPONSE_200 = ("responses", "200", "content", "application/json", "schema")

UPDATES: list[dict[str, Any]] = [
    {"paused": True},
    {"paused": "false", "sync_frequency": "60"},
    {"sync_frequency": 1440, "daily_sync_time": "03:00"},
    {"schedule_type": "manual"},
    {"is_historical_sync": True},
    {"pause_after_trial": "yes"},
    {"data_delay_sensitivity": "custom", "data_delay_threshold": "30"},
    {"schema_status": "ready"},
    {"config": {"host": "db2", "password": "new-pw"}, "run_setup_tests": True, "trust_certificates": True},
    {"config": '{"port": 5433}', "run_setup_tests": "true", "trust_fingerprints": "1"},
    {"auth": {"client_access": {"client_secret": "s"}}},
    {"networking_method": "directly"},
]


def test_the_adaptation_is_needed_and_limited() -> None:
    """The quirks worked around above are really in the definition (drop them when fixed)."""
    spec = _original_spec()
    declared = spec["components"]["schemas"]["UpdateConnectorRequest"]["properties"]["sync_frequency"]
    assert declared["type"] == "integer"
    assert all(isinstance(value, str) for value in declared["enum"])
    assert "nullable" not in json.dumps(spec)
    adapted = _registry_and_spec()[1]["components"]["schemas"]["UpdateConnectorRequest"]["properties"]
    assert adapted["sync_frequency"]["enum"][-1] == 1440


def test_the_schema_rejects_what_fivetran_rejects() -> None:
    """Guard against a validator that accepts anything (a broken $ref would)."""
    validator = _validator(_pointer("components", "schemas", "UpdateConnectorRequest"))
    assert _errors(validator, {"sync_frequency": 60}) == []
    assert _errors(validator, {"sync_frequency": 7})
    assert _errors(validator, {"sync_frequency": "60"})
    assert _errors(validator, {"paused": "true"})
    assert _errors(validator, {"schedule_type": "sometimes"})


@pytest.mark.parametrize("fields", UPDATES, ids=lambda fields: ",".join(fields))
def test_every_patch_body_matches_update_connector_request(
    sim: FivetranSimulator, fields: dict[str, Any]
) -> None:
    hook = FivetranHook(max_retries=0)
    hook.update_connection(CONN, **fields)
    deadline = time.monotonic() + 3  # the simulator logs a request just after answering it
    while not sim.request_count("PATCH") and time.monotonic() < deadline:
        time.sleep(0.01)
    (recorded,) = [r for r in sim.requests if r.method == "PATCH"]
    assert recorded.status == 200
    assert (
        _errors(_validator(_pointer("components", "schemas", "UpdateConnectorRequest")), recorded.json) == []
    )


def _raw_answer(sim: FivetranSimulator, method: str, body: dict[str, Any] | None = None) -> Any:
    """The simulator's answer as sent (not the hook's redacted ``data``), for schema checks."""
    import requests

    response = requests.request(
        method,
        f"{sim.url}/v1/connections/{CONN}",
        auth=(sim.api_key, sim.api_secret),
        headers={"Accept": "application/json;version=2"},
        json=body,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("method", ["get", "patch"])
def test_simulator_answers_match_the_200_schema(sim: FivetranSimulator, method: str) -> None:
    validator = _validator(
        _pointer(
            "paths", CONNECTION_PATH, method, "responses", "200", "content", "application/json", "schema"
        )
    )
    bodies = [
        {"paused": True},
        {"sync_frequency": 60},
        {"schedule_type": "manual", "is_historical_sync": True},
    ]
    answers = (
        [_raw_answer(sim, "GET")] if method == "get" else [_raw_answer(sim, "PATCH", body) for body in bodies]
    )
    for answer in answers:
        assert _errors(validator, answer) == []


def test_hook_output_still_matches_the_connection_schema(sim: FivetranSimulator) -> None:
    """Redaction masks values; it must not break the shape the operator pushes to XCom."""
    validator = _validator(_pointer("components", "schemas", "ConnectorResponseV1"))
    hook = FivetranHook(max_retries=0)
    assert _errors(validator, hook.get_connection_details(CONN)) == []
    assert _errors(validator, hook.update_connection(CONN, paused=True)) == []


def test_the_response_schema_is_resolved_through_the_path() -> None:
    validator = _validator(_pointer("paths", CONNECTION_PATH, "get", *RESPONSE_200))
    assert _errors(validator, {"code": "Success"})  # no data
    assert _errors(validator, {"code": "Success", "data": {"id": CONN}})  # data lacks required fields
