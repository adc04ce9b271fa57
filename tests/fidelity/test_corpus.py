"""Two independent readings of Fivetran's PATCH rules, compared over one corpus of request bodies.

The hook judges a body with the field catalogue (``fields.build_update_payload``, then the
setup-test policy); the simulator with its own reading of the same documents
(``testing/fivetran_rules.check_update_body``), which imports nothing of the catalogue. Each body of
``update_bodies.json``, plus the example requests of Fivetran's reference page and OpenAPI, goes
through both, and the simulator also answers it over HTTP (a raw PATCH: 400 or 200). Disagreements:

* **stricter**: the hook refuses a body the simulator accepts. The hook must never be stricter
  than Fivetran.
* **sends refused**: the hook accepts a body, but what it would send is refused. The hook must
  refuse before sending what Fivetran refuses.

A body the simulator refuses as written but the hook accepts and sends in the API's types (``"true"``
rendered by Jinja sent as ``true``) is not a disagreement: what goes over the wire is accepted.
Every disagreement is either fixed or listed in :data:`EXPLAINED` with its source; an explanation
for a body the two readings now agree on fails the test too, so the list cannot go stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.fields import build_update_payload, with_setup_test_policy
from airflow_provider_fivetran_update.testing import FivetranSimulator
from airflow_provider_fivetran_update.testing.fivetran_rules import check_update_body
from tests.fidelity.documents import documents_available, openapi_example_body, reference_example_body

CORPUS = Path(__file__).with_name("update_bodies.json")

EXPLAINED: dict[str, str] = {
    # The OpenAPI gives external_secrets_keys_config no type ("the setup configuration keys to be
    # stored in external secrets manager; check possible config formats in the create method"), so
    # the simulator takes any value. The create method's config formats are objects, and the hook
    # asks for an object so that a rendered JSON text can be read back into one; a bare string or
    # array is refused with the field named.
    'external_secrets_keys_config=["password"]': "stricter",
    'external_secrets_keys_config="password"': "stricter",
}


@dataclass(frozen=True)
class Case:
    id: str
    body: dict[str, Any]
    why: str
    stored: dict[str, Any]


def _cases() -> list[Case]:
    loaded = json.loads(CORPUS.read_text(encoding="utf-8"))
    cases = [Case(c["id"], c["body"], c["why"], c.get("stored", {})) for c in loaded["cases"]]
    if documents_available():
        cases += [
            Case("reference page example", reference_example_body(), "Fivetran's own example request", {}),
            Case("OpenAPI examples", openapi_example_body(), "every example of UpdateConnectorRequest", {}),
        ]
    return cases


CASES = _cases()


@dataclass(frozen=True)
class Verdicts:
    hook_error: str | None  # the hook's refusal, or None when it sends
    sent: dict[str, Any] | None  # what the hook sends
    sim_raw: list[str]  # the simulator's problems with the body as written
    sim_sent: list[str]  # ... with the body the hook sends
    http_raw: int  # the simulator's HTTP answer to the body as written
    http_sent: int | None  # ... to the body the hook sends

    def disagreement(self) -> str | None:
        if self.hook_error is not None and not self.sim_raw:
            return "stricter"
        if self.hook_error is None and self.sim_sent:
            return "sends refused"
        return None


@pytest.fixture(scope="module")
def sim() -> Iterator[FivetranSimulator]:
    with FivetranSimulator() as simulator:
        yield simulator


def _patch(sim: FivetranSimulator, case: Case, body: dict[str, Any], suffix: str) -> int:
    import requests

    connection_id = f"corpus_{CASES.index(case)}_{suffix}"
    sim.add_connection(connection_id, service="postgres", config={"host": "db"}, **case.stored)
    response = requests.patch(
        f"{sim.url}/v1/connections/{connection_id}",
        auth=(sim.api_key, sim.api_secret),
        headers={"Accept": "application/json;version=2"},
        json=body,
        timeout=30,
    )
    return response.status_code


def _judge(sim: FivetranSimulator, case: Case) -> Verdicts:
    try:
        sent: dict[str, Any] | None = with_setup_test_policy(build_update_payload(case.body))
        hook_error = None
    except FivetranValidationError as error:
        sent, hook_error = None, str(error)
    return Verdicts(
        hook_error=hook_error,
        sent=sent,
        sim_raw=check_update_body(case.body),
        sim_sent=check_update_body(sent) if sent is not None else [],
        http_raw=_patch(sim, case, case.body, "raw"),
        http_sent=_patch(sim, case, sent, "sent") if sent is not None else None,
    )


@pytest.fixture(scope="module")
def verdicts(sim: FivetranSimulator) -> dict[str, Verdicts]:
    return {case.id: _judge(sim, case) for case in CASES}


def test_the_corpus_covers_the_documents_and_every_field() -> None:
    from airflow_provider_fivetran_update.fields import FIELD_NAMES

    assert len({case.id for case in CASES}) == len(CASES)
    covered = {name for case in CASES for name in case.body}
    assert set(FIELD_NAMES) <= covered
    if documents_available():
        assert {"reference page example", "OpenAPI examples"} <= {case.id for case in CASES}


def test_every_disagreement_is_fixed_or_explained(verdicts: dict[str, Verdicts]) -> None:
    found = {case_id: v.disagreement() for case_id, v in verdicts.items() if v.disagreement()}
    unexplained = {
        case_id: f"{kind}: hook says {v.hook_error or 'sends ' + json.dumps(v.sent)}; simulator says "
        f"{v.sim_raw or v.sim_sent or 'accepted'}"
        for case_id, kind in found.items()
        if EXPLAINED.get(case_id) != kind
        for v in [verdicts[case_id]]
    }
    stale = sorted(set(EXPLAINED) - set(found))
    assert not unexplained, "Disagreements between the hook and the simulator:\n" + "\n".join(
        f"  {case_id}: {text}" for case_id, text in unexplained.items()
    )
    assert not stale, f"Explained disagreements that no longer occur (drop them from EXPLAINED): {stale}"


def test_the_simulators_http_answer_is_its_reading(verdicts: dict[str, Verdicts]) -> None:
    wrong = {
        case_id: (v.sim_raw, v.http_raw, v.sim_sent, v.http_sent)
        for case_id, v in verdicts.items()
        if v.http_raw != (400 if v.sim_raw else 200)
        or (v.http_sent is not None and v.http_sent != (400 if v.sim_sent else 200))
    }
    assert not wrong


def test_whatever_the_hook_sends_is_accepted(verdicts: dict[str, Verdicts]) -> None:
    refused = {
        case_id: v.http_sent for case_id, v in verdicts.items() if v.sent is not None and v.http_sent != 200
    }
    assert not refused


@pytest.mark.skipif(not documents_available(), reason="Fivetran's documents are not on this machine")
def test_fivetrans_own_examples_are_accepted_by_both(verdicts: dict[str, Verdicts]) -> None:
    for case_id in ("reference page example", "OpenAPI examples"):
        v = verdicts[case_id]
        assert v.hook_error is None, v.hook_error
        assert v.sim_raw == []
        assert (v.http_raw, v.http_sent) == (200, 200)
    reference = verdicts["reference page example"]
    assert reference.sent is not None
    assert reference.sent["data_delay_sensitivity"] == "LOW"
    assert reference.sent["data_delay_threshold"] == 0


def test_both_readings_refuse_what_the_documents_forbid(verdicts: dict[str, Verdicts]) -> None:
    """A guard against two readings that accept everything (and so always agree)."""
    for case_id in (
        "nothing",
        "only nulls",
        "run_setup_tests alone",
        "trust_certificates with run_setup_tests false",
        "unknown field",
        "schedule object",
        "sync_frequency=45",
        "data_delay_threshold=2147483648",
        'daily_sync_time="24:00"',
        'networking_method="Vpn"',
    ):
        v = verdicts[case_id]
        assert v.hook_error is not None, case_id
        assert v.sim_raw, case_id
        assert v.http_raw == 400, case_id
