"""The simulator's endpoints beyond GET/PATCH: group lists, setup tests, re-syncs, media types.

Everything goes over real loopback HTTP with ``requests`` (and ``httpx`` for the admin API).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import requests

from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from tests.simulator_credentials import ACCEPT, KEY, SECRET

pytest_plugins = ["tests.simulator_fixtures"]


def status(sim: FivetranSimulator, connection_id: str) -> dict[str, Any]:
    return sim.connection(connection_id)["status"]  # type: ignore[no-any-return]


# -- GET /v1/groups/{id}/connections -------------------------------------------------------------------


def test_group_connections_are_paginated_with_cursor_and_limit(
    sim: FivetranSimulator, api: requests.Session
) -> None:
    for index in range(7):
        sim.add_connection(f"conn_{index}", group_id="g1" if index % 2 else "g2", schema=f"s{index}")
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        response = api.get(sim.url + "/v1/groups/g1/connections", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["code"] == "Success"
        assert len(body["data"]["items"]) <= 2
        seen += [item["id"] for item in body["data"]["items"]]
        if "next_cursor" not in body["data"]:
            break
        params["cursor"] = body["data"]["next_cursor"]
    assert seen == ["conn_1", "conn_3", "conn_5"]
    assert sim.request_count("GET", "/v1/groups/g1/connections") == 2

    by_schema = api.get(sim.url + "/v1/groups/g2/connections", params={"schema": "s4"}).json()
    assert [item["id"] for item in by_schema["data"]["items"]] == ["conn_4"]

    unknown = api.get(sim.url + "/v1/groups/nope/connections")
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "NotFound_Group", "message": "Group with id 'nope' doesn't exist"}
    bad = api.get(sim.url + "/v1/groups/g1/connections", params={"limit": "0"})
    assert bad.status_code == 400 and "limit" in bad.json()["message"]
    # The default group exists even before it has connections.
    sim.remove_connection("conn_0")
    assert api.get(sim.url + "/v1/groups/sim_group/connections").json()["data"]["items"] == []


# -- POST /v1/connections/{id}/test --------------------------------------------------------------------


def test_setup_tests_endpoint_runs_the_tests(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("good", setup_state="incomplete")
    sim.add_connection("bad", broken=True)
    good = api.post(sim.url + "/v1/connections/good/test", json={})
    assert good.status_code == 200, good.text
    assert good.json()["message"] == "Setup tests have been completed"
    assert good.json()["data"]["status"]["setup_state"] == "connected"
    assert {test["status"] for test in good.json()["data"]["setup_tests"]} == {"PASSED"}

    bad = api.post(sim.url + "/v1/connections/bad/test", json={"trust_certificates": True})
    assert bad.status_code == 200
    assert bad.json()["data"]["status"]["setup_state"] == "broken"
    assert "FAILED" in {test["status"] for test in bad.json()["data"]["setup_tests"]}
    assert sim.connection("bad")["status"]["setup_state"] == "broken"


def test_setup_tests_endpoint_needs_a_body_and_boolean_trust_flags(
    sim: FivetranSimulator, api: requests.Session
) -> None:
    sim.add_connection("conn_a", setup_state="incomplete")
    omitted = api.post(sim.url + "/v1/connections/conn_a/test")
    assert omitted.status_code == 400 and omitted.json()["code"] == "InvalidInput"
    wrong = api.post(sim.url + "/v1/connections/conn_a/test", json={"trust_fingerprints": "yes"})
    assert wrong.status_code == 400 and "trust_fingerprints" in wrong.json()["message"]
    assert status(sim, "conn_a")["setup_state"] == "incomplete"
    missing = api.post(sim.url + "/v1/connections/nope/test", json={})
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound_Connection"
    assert sim.request_count("POST", "/v1/connections/*/test") == 3


# -- POST /v1/connections/{id}/resync ------------------------------------------------------------------


def test_resync_without_scope_starts_a_historical_sync(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a")
    response = api.post(sim.url + "/v1/connections/conn_a/resync")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "code": "Success",
        "message": "Sync has been successfully triggered for connection with id 'conn_a'",
    }
    assert status(sim, "conn_a")["sync_state"] == "syncing"
    assert status(sim, "conn_a")["is_historical_sync"] is True
    clock.advance(2)
    done = sim.connection("conn_a")
    assert done["succeeded_at"] is not None
    assert done["status"]["is_historical_sync"] is False
    assert sim.raw_connection("conn_a")["last_resync_scope"] is None
    # A null scope is the whole connection too.
    assert api.post(sim.url + "/v1/connections/conn_a/resync", json={"scope": None}).status_code == 200
    assert status(sim, "conn_a")["is_historical_sync"] is True


def test_resync_with_a_table_scope(sim: FivetranSimulator, api: requests.Session, clock: ManualClock) -> None:
    sim.add_connection("conn_a")
    scope = {"public": ["orders", "customers"], "sales": ["leads"]}
    response = api.post(sim.url + "/v1/connections/conn_a/resync", json={"scope": scope})
    assert response.status_code == 200, response.text
    assert sim.raw_connection("conn_a")["last_resync_scope"] == scope
    assert status(sim, "conn_a")["sync_state"] == "syncing"
    assert status(sim, "conn_a")["is_historical_sync"] is False  # only some tables
    clock.advance(1.5)
    assert status(sim, "conn_a")["sync_state"] == "syncing"  # tables re-sync as long as a historical sync
    clock.advance(0.5)
    assert sim.connection("conn_a")["succeeded_at"] is not None

    tables = api.post(sim.url + "/v1/connections/conn_a/schemas/tables/resync", json={"public": ["orders"]})
    assert tables.status_code == 200
    assert tables.json()["message"] == "Re-sync has been triggered successfully"
    assert sim.raw_connection("conn_a")["last_resync_scope"] == {"public": ["orders"]}


@pytest.mark.parametrize(
    "body",
    [
        {"scope": {}},
        {"scope": {"public": []}},
        {"scope": {"public": "orders"}},
        {"scope": ["public.orders"]},
        {"scope": {"public": ["orders", 3]}},
    ],
)
def test_resync_refuses_a_malformed_scope(
    sim: FivetranSimulator, api: requests.Session, body: dict[str, Any]
) -> None:
    sim.add_connection("conn_a")
    response = api.post(sim.url + "/v1/connections/conn_a/resync", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidInput"
    assert "scope" in response.json()["message"]
    assert status(sim, "conn_a")["sync_state"] == "scheduled"
    assert sim.raw_connection("conn_a")["last_resync_scope"] is None


def test_resync_scope_on_a_connector_without_table_resync(
    sim: FivetranSimulator, api: requests.Session
) -> None:
    sim.add_connection("sheet", service="google_sheets")
    refused = api.post(sim.url + "/v1/connections/sheet/resync", json={"scope": {"s": ["t"]}})
    assert refused.status_code == 400
    assert "sheet" in refused.json()["message"] and "table-level" in refused.json()["message"]
    assert status(sim, "sheet")["sync_state"] == "scheduled"
    assert api.post(sim.url + "/v1/connections/sheet/resync", json={}).status_code == 200


def test_resync_of_paused_running_and_manual_connections(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("paused", paused=True)
    sim.add_connection("running", sync_state="syncing")
    sim.add_connection("manual", schedule_type="manual")

    api.post(sim.url + "/v1/connections/paused/resync", json={"scope": {"public": ["orders"]}})
    assert status(sim, "paused")["sync_state"] == "paused"
    clock.advance(60)
    assert sim.connection("paused")["succeeded_at"] is None
    resumed = api.patch(sim.url + "/v1/connections/paused", json={"paused": False, "run_setup_tests": False})
    assert resumed.json()["data"]["status"]["sync_state"] == "syncing"

    # The running sync is completed first, then the historical sync starts.
    api.post(sim.url + "/v1/connections/running/resync")
    running = sim.connection("running")
    assert running["succeeded_at"] is not None
    assert running["status"]["sync_state"] == "syncing" and running["status"]["is_historical_sync"]

    # An explicit re-sync request starts on a manual schedule too.
    api.post(sim.url + "/v1/connections/manual/resync")
    assert status(sim, "manual")["sync_state"] == "syncing"


# -- POST /v1/connections/{id}/sync with and without a body -------------------------------------------


def test_sync_with_and_without_a_body(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("conn_a")
    auth = (KEY, SECRET)
    bare = requests.post(sim.url + "/v1/connections/conn_a/sync", auth=auth)  # no Accept, no body
    assert bare.status_code == 200, bare.text
    assert "Content-Type" not in bare.request.headers
    clock.advance(5)
    empty = requests.post(sim.url + "/v1/connections/conn_a/sync", auth=auth, json={})
    assert empty.status_code == 200
    forced = requests.post(
        sim.url + "/v1/connections/conn_a/sync",
        auth=auth,
        json={"force": True},
        headers={"Accept": "application/json"},
    )
    assert forced.status_code == 200
    assert sim.request_count("POST", "/v1/connections/conn_a/sync") == 3


# -- 406 and 415 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        "application/json;version=2",
        "application/json",
        "application/json; version=1",
        "*/*",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        None,
    ],
)
def test_json_accept_headers_are_served(sim: FivetranSimulator, accept: str | None) -> None:
    sim.add_connection("conn_a")
    headers = {"Accept": accept} if accept is not None else {}
    response = httpx.get(sim.url + "/v1/connections/conn_a", auth=(KEY, SECRET), headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "text/plain;q=1"])
def test_unsupported_accept_is_406_and_changes_nothing(sim: FivetranSimulator, accept: str) -> None:
    sim.add_connection("conn_a")
    response = requests.patch(
        sim.url + "/v1/connections/conn_a",
        auth=(KEY, SECRET),
        json={"paused": True},
        headers={"Accept": accept},
    )
    assert response.status_code == 406
    assert response.json()["code"] == "NotAcceptable"
    assert accept in response.json()["message"]
    assert response.headers["Content-Type"] == "application/json"
    assert sim.connection("conn_a")["paused"] is False
    assert sim.request_count("PATCH", "/v1/connections/conn_a") == 1


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("PATCH", "/v1/connections/conn_a", "text/plain"),
        ("PATCH", "/v1/connections/conn_a", None),
        ("PATCH", "/v1/connections/conn_a", "application/x-www-form-urlencoded"),
        ("POST", "/v1/connections/conn_a/sync", "text/plain"),
        ("POST", "/v1/connections/conn_a/resync", "application/xml"),
    ],
)
def test_a_body_that_is_not_json_is_415_and_changes_nothing(
    sim: FivetranSimulator, method: str, path: str, content_type: str | None
) -> None:
    sim.add_connection("conn_a")
    headers = dict(ACCEPT)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = requests.request(
        method, sim.url + path, auth=(KEY, SECRET), data=b'{"paused": true}', headers=headers
    )
    assert response.status_code == 415
    assert response.json()["code"] == "UnsupportedMediaType"
    assert "application/json" in response.json()["message"]
    after = sim.connection("conn_a")
    assert after["paused"] is False and after["status"]["sync_state"] == "scheduled"
    assert sim.request_count(method, path) == 1


def test_json_content_type_with_parameters_is_accepted(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a")
    response = requests.patch(
        sim.url + "/v1/connections/conn_a",
        auth=(KEY, SECRET),
        data=b'{"paused": true, "run_setup_tests": false}',
        headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert sim.connection("conn_a")["paused"] is True


# -- legacy /v1/connectors paths -----------------------------------------------------------------------


def test_legacy_group_and_action_paths_only_with_the_option(clock: ManualClock) -> None:
    auth = (KEY, SECRET)
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, clock=clock) as sim:
        sim.add_connection("conn_a")
        for method, path in [
            ("GET", "/v1/groups/sim_group/connectors"),
            ("POST", "/v1/connectors/conn_a/test"),
            ("POST", "/v1/connectors/conn_a/resync"),
        ]:
            response = requests.request(method, sim.url + path, auth=auth, json={})
            assert response.status_code == 404, path
            assert response.json()["code"] == "NotFound"
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, clock=clock, legacy_connectors_path=True) as sim:
        sim.add_connection("conn_a")
        listed = requests.get(sim.url + "/v1/groups/sim_group/connectors", auth=auth).json()
        assert [item["id"] for item in listed["data"]["items"]] == ["conn_a"]
        tested = requests.post(sim.url + "/v1/connectors/conn_a/test", auth=auth, json={})
        assert tested.json()["data"]["status"]["setup_state"] == "connected"
        assert requests.post(sim.url + "/v1/connectors/conn_a/resync", auth=auth).status_code == 200
        assert sim.connection("conn_a")["status"]["is_historical_sync"] is True
        clock.advance(2)
        assert requests.post(sim.url + "/v1/connectors/conn_a/force", auth=auth).status_code == 200
        assert sim.connection("conn_a")["status"]["sync_state"] == "syncing"


# -- failing and rescheduled syncs ---------------------------------------------------------------------


def test_fail_syncs_makes_every_sync_fail(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a")
    sim.set_behaviour("conn_a", fail_syncs=True)
    api.post(sim.url + "/v1/connections/conn_a/sync")
    clock.advance(1)
    failed = sim.connection("conn_a")
    assert failed["failed_at"] is not None and failed["succeeded_at"] is None
    assert [task["code"] for task in failed["status"]["tasks"]] == ["resolve_sync_failure"]
    assert sim.raw_connection("conn_a")["fail_syncs"] is True

    sim.set_behaviour("conn_a", fail_syncs=False)
    api.post(sim.url + "/v1/connections/conn_a/sync")
    clock.advance(1)
    fixed = sim.connection("conn_a")
    assert fixed["succeeded_at"] is not None and fixed["status"]["tasks"] == []


def test_rescheduled_sync_of_an_auto_connection_starts_at_rescheduled_for(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a")
    sim.reschedule_next_sync("conn_a", 600)
    started_at = sim.now()
    assert api.post(sim.url + "/v1/connections/conn_a/sync").status_code == 200
    waiting = api.get(sim.url + "/v1/connections/conn_a").json()["data"]
    assert waiting["status"]["sync_state"] == "rescheduled"
    assert waiting["status"]["rescheduled_for"] == (
        started_at.replace(minute=started_at.minute + 10).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )
    clock.advance(599)
    assert status(sim, "conn_a")["sync_state"] == "rescheduled"
    clock.advance(1)
    assert status(sim, "conn_a")["sync_state"] == "syncing"
    assert "rescheduled_for" not in status(sim, "conn_a")
    clock.advance(1)
    assert sim.connection("conn_a")["succeeded_at"] is not None
    # One-shot: the next sync starts at once.
    api.post(sim.url + "/v1/connections/conn_a/sync")
    assert status(sim, "conn_a")["sync_state"] == "syncing"


def test_rescheduled_sync_of_a_manual_connection_waits_for_a_sync_request(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a", schedule_type="manual")
    with httpx.Client(base_url=sim.url) as admin:
        assert admin.post("/__admin/connections/conn_a/reschedule", json={"seconds": 60}).status_code == 200
        assert admin.post("/__admin/connections/conn_a/reschedule", json={"seconds": 0}).status_code == 400
        assert admin.post("/__admin/connections/nope/reschedule", json={"seconds": 5}).status_code == 404
        assert (
            admin.post("/__admin/connections/conn_a/behaviour", json={"fail_syncs": True}).status_code == 200
        )
    api.post(sim.url + "/v1/connections/conn_a/resync")
    assert status(sim, "conn_a")["sync_state"] == "rescheduled"
    assert status(sim, "conn_a")["is_historical_sync"] is True
    clock.advance(3600)
    assert status(sim, "conn_a")["sync_state"] == "rescheduled"
    api.post(sim.url + "/v1/connections/conn_a/sync")
    assert status(sim, "conn_a")["sync_state"] == "syncing"
    clock.advance(2)
    done = sim.connection("conn_a")
    assert done["failed_at"] is not None and done["status"]["is_historical_sync"] is False
    assert done["status"]["tasks"][0]["message"] == "Historical sync failed"
