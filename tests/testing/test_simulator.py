"""The Fivetran API simulator, exercised over real loopback HTTP with requests and httpx."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import signal
import ssl
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
import requests

from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from tests.simulator_credentials import ACCEPT, KEY, SECRET

pytest_plugins = ["tests.simulator_fixtures"]


def url(sim: FivetranSimulator, path: str) -> str:
    return sim.url + path


def get_data(api: requests.Session, sim: FivetranSimulator, connection_id: str) -> dict[str, Any]:
    response = api.get(url(sim, f"/v1/connections/{connection_id}"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "Success"
    return body["data"]  # type: ignore[no-any-return]


def patch(
    api: requests.Session, sim: FivetranSimulator, connection_id: str, **body: Any
) -> requests.Response:
    return api.patch(url(sim, f"/v1/connections/{connection_id}"), json=body)


# -- auth, errors, round trip ------------------------------------------------------------------------


def test_missing_or_wrong_auth_answers_401_in_fivetran_error_shape(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a")
    no_auth = requests.get(url(sim, "/v1/connections/conn_a"), headers=ACCEPT)
    wrong = requests.get(url(sim, "/v1/connections/conn_a"), auth=(KEY, "nope"), headers=ACCEPT)
    garbage = requests.get(url(sim, "/v1/connections/conn_a"), headers={"Authorization": "Basic !!!"})
    for response in (no_auth, wrong, garbage):
        assert response.status_code == 401
        assert response.json()["code"] == "AuthFailed"
        assert response.json()["message"]
        assert response.headers["X-Request-Id"]
    ok = requests.get(url(sim, "/v1/connections/conn_a"), auth=(KEY, SECRET))
    assert ok.status_code == 200


def test_unknown_connection_is_404_not_found_connection(
    sim: FivetranSimulator, api: requests.Session
) -> None:
    for response in (
        api.get(url(sim, "/v1/connections/abc")),
        api.patch(url(sim, "/v1/connections/abc"), json={"paused": True}),
        api.post(url(sim, "/v1/connections/abc/sync")),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "code": "NotFound_Connection",
            "message": "Connection with id 'abc' doesn't exist",
        }


def test_get_has_the_connector_response_shape(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a", service="postgres", group_id="grp", schema="sales", config={"host": "db"})
    data = get_data(api, sim, "conn_a")
    required = {"created_at", "data_delay_sensitivity", "group_id", "id", "pause_after_trial", "paused"}
    required |= {"schedule_type", "schema", "service", "service_version", "status", "sync_frequency"}
    assert required <= set(data)
    assert (data["id"], data["service"], data["schema"], data["group_id"]) == (
        "conn_a",
        "postgres",
        "sales",
        "grp",
    )
    assert data["succeeded_at"] is None and data["failed_at"] is None
    assert data["created_at"].endswith("Z") and "T" in data["created_at"]
    assert data["status"] == {
        "setup_state": "connected",
        "sync_state": "scheduled",
        "update_state": "on_schedule",
        "is_historical_sync": False,
        "tasks": [],
        "warnings": [],
    }
    assert "daily_sync_time" not in data
    assert "auth" not in data


def test_patch_round_trip(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a", sync_frequency=360)
    response = patch(
        api,
        sim,
        "conn_a",
        sync_frequency=1440,
        daily_sync_time="14:00",
        pause_after_trial=True,
        run_setup_tests=False,
    )
    assert response.status_code == 200, response.text
    assert response.json()["code"] == "Success"
    returned = response.json()["data"]
    assert returned["sync_frequency"] == 1440
    assert returned["daily_sync_time"] == "14:00"
    assert returned["pause_after_trial"] is True
    assert get_data(api, sim, "conn_a") == returned
    assert sim.connection("conn_a") == returned
    # daily_sync_time is only reported for daily syncs.
    assert "daily_sync_time" not in patch(api, sim, "conn_a", sync_frequency=60).json()["data"]
    assert sim.request_count("PATCH", "/v1/connections/conn_a") == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"pasued": True}, "pasued"),
        ({"sync_frequency": "sixty"}, "sync_frequency"),
        ({"sync_frequency": 61}, "sync_frequency"),
        ({"paused": "true"}, "paused"),
        ({"schedule_type": "sometimes"}, "schedule_type"),
        ({}, "payload"),
    ],
)
def test_patch_validation_errors_are_400_invalid_input(
    sim: FivetranSimulator, api: requests.Session, body: dict[str, Any], fragment: str
) -> None:
    sim.add_connection("conn_a")
    before = sim.connection("conn_a")
    response = patch(api, sim, "conn_a", **body)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidInput"
    assert fragment in response.json()["message"]
    assert sim.connection("conn_a") == before


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"paused"', b""])
def test_patch_body_must_be_a_json_object(sim: FivetranSimulator, api: requests.Session, raw: bytes) -> None:
    sim.add_connection("conn_a")
    response = api.patch(
        url(sim, "/v1/connections/conn_a"), data=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidInput"
    assert "JSON" in response.json()["message"]


def test_secrets_are_masked_and_the_mask_keeps_the_stored_value(
    sim: FivetranSimulator, api: requests.Session
) -> None:
    sim.add_connection(
        "conn_a", config={"host": "db", "password": "pw-1", "port": 5432}, auth={"client_secret": "cs"}
    )
    data = get_data(api, sim, "conn_a")
    assert data["config"] == {"host": "db", "password": "******", "port": 5432}
    assert "pw-1" not in json.dumps(sim.connection("conn_a"))

    # Sending back what GET showed keeps the secret; other keys are merged.
    response = patch(api, sim, "conn_a", config={"password": "******", "port": 5433})
    assert response.status_code == 200
    assert response.json()["data"]["config"]["password"] == "******"
    assert "pw-1" not in response.text
    raw = sim.raw_connection("conn_a")
    assert raw["config"] == {"host": "db", "password": "pw-1", "port": 5433}

    patch(api, sim, "conn_a", config={"password": "pw-2"}, auth={"client_secret": "cs-2"})
    raw = sim.raw_connection("conn_a")
    assert raw["config"]["password"] == "pw-2"
    assert raw["auth"] == {"client_secret": "cs-2"}
    assert "pw-2" not in api.get(url(sim, "/v1/connections/conn_a")).text


def test_account_info_and_request_ids(sim: FivetranSimulator, api: requests.Session) -> None:
    first = api.get(url(sim, "/v1/account/info"))
    second = api.get(url(sim, "/v1/account/info"))
    assert first.status_code == 200
    assert {"account_id", "account_name", "user_id"} <= set(first.json()["data"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    assert sim.requests[-1].request_id == second.headers["X-Request-Id"]


def test_removed_connection_answers_404(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    assert api.get(url(sim, "/v1/connections/conn_a")).status_code == 200
    sim.remove_connection("conn_a")
    assert api.get(url(sim, "/v1/connections/conn_a")).status_code == 404
    with pytest.raises(ValueError, match="already exists"):
        sim.add_connection("conn_b")
        sim.add_connection("conn_b")


# -- time model ----------------------------------------------------------------------------------------


def test_pause_and_unpause(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    assert patch(api, sim, "conn_a", paused=True).json()["data"]["status"]["sync_state"] == "paused"
    assert get_data(api, sim, "conn_a")["paused"] is True
    unpaused = patch(api, sim, "conn_a", paused=False).json()["data"]
    assert unpaused["paused"] is False
    assert unpaused["status"]["sync_state"] == "scheduled"
    assert sim.add_connection("conn_b", paused=True)["status"]["sync_state"] == "paused"


def test_historical_sync_succeeds_after_its_duration(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a")
    started = patch(api, sim, "conn_a", is_historical_sync=True).json()["data"]
    assert started["status"]["sync_state"] == "syncing"
    assert started["status"]["is_historical_sync"] is True
    clock.advance(1.5)
    assert get_data(api, sim, "conn_a")["status"]["sync_state"] == "syncing"
    clock.advance(1.0)
    done = get_data(api, sim, "conn_a")
    assert done["status"]["sync_state"] == "scheduled"
    assert done["status"]["is_historical_sync"] is False
    assert done["succeeded_at"] == sim.connection("conn_a")["succeeded_at"]
    assert done["succeeded_at"] is not None and done["failed_at"] is None
    # Completion is stamped at the end of the simulated duration (2 s), not at the time of the read.
    expected_end = started["created_at"].replace("00.000000Z", "02.000000Z")
    assert done["succeeded_at"] == expected_end


def test_historical_sync_failure_sets_failed_at_and_a_task(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a", fail_historical_sync=True)
    patch(api, sim, "conn_a", is_historical_sync=True)
    clock.advance(3)
    data = get_data(api, sim, "conn_a")
    assert data["failed_at"] is not None and data["succeeded_at"] is None
    assert data["status"]["is_historical_sync"] is False
    assert data["status"]["sync_state"] == "scheduled"
    assert [task["code"] for task in data["status"]["tasks"]] == ["resolve_sync_failure"]
    assert "conn_a" in data["status"]["tasks"][0]["details"]


def test_historical_sync_with_real_time_and_short_duration(api: requests.Session) -> None:
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, historical_sync_seconds=0.3) as sim:
        sim.add_connection("conn_a")
        assert patch(api, sim, "conn_a", is_historical_sync=True).json()["data"]["status"]["sync_state"] == (
            "syncing"
        )
        time.sleep(0.35)  # real time is what this test is about: the sync ends 0.3 s after it started
        data = get_data(api, sim, "conn_a")
        assert data["status"]["sync_state"] == "scheduled"
        assert data["succeeded_at"] is not None


def test_historical_sync_requested_while_paused_starts_on_unpause(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a", paused=True)
    pending = patch(api, sim, "conn_a", is_historical_sync=True).json()["data"]
    assert pending["status"]["sync_state"] == "paused"
    assert pending["status"]["is_historical_sync"] is True
    clock.advance(60)
    assert sim.connection("conn_a")["succeeded_at"] is None
    running = patch(api, sim, "conn_a", paused=False).json()["data"]
    assert running["status"]["sync_state"] == "syncing"
    # Paused again while syncing: the sync still ends, and the connection stays paused.
    assert patch(api, sim, "conn_a", paused=True).json()["data"]["status"]["sync_state"] == "paused"
    clock.advance(2)
    data = get_data(api, sim, "conn_a")
    assert data["succeeded_at"] is not None
    assert data["status"]["sync_state"] == "paused"
    assert data["status"]["is_historical_sync"] is False


def test_setup_tests_pass_or_fail(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("good", setup_state="incomplete")
    sim.add_connection("bad", broken=True)
    good = patch(api, sim, "good", paused=False, run_setup_tests=True).json()["data"]
    assert good["status"]["setup_state"] == "connected"
    assert good["setup_tests"] and {t["status"] for t in good["setup_tests"]} == {"PASSED"}

    bad = patch(api, sim, "bad", paused=False, run_setup_tests=True).json()["data"]
    assert bad["status"]["setup_state"] == "broken"
    assert "FAILED" in {t["status"] for t in bad["setup_tests"]}
    assert [w["code"] for w in bad["status"]["warnings"]] == ["setup_tests_failed"]

    # A config change runs the tests unless run_setup_tests is false.
    sim.set_behaviour("bad", broken=False)
    assert (
        patch(api, sim, "bad", config={"host": "x"}, run_setup_tests=False).json()["data"]["status"][
            "setup_state"
        ]
        == "broken"
    )
    fixed = patch(api, sim, "bad", config={"host": "y"}).json()["data"]
    assert fixed["status"]["setup_state"] == "connected"
    assert fixed["status"]["warnings"] == []


def test_setup_tests_make_the_patch_slow(api: requests.Session) -> None:
    # Read timeouts on either side of the 30 s setup tests, not a measured duration.
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, setup_tests_seconds=30.0) as sim:
        sim.add_connection("conn_a")
        fast = api.patch(
            url(sim, "/v1/connections/conn_a"), json={"paused": True, "run_setup_tests": False}, timeout=20
        )
        assert fast.status_code == 200
        with pytest.raises(requests.exceptions.ReadTimeout):
            api.patch(
                url(sim, "/v1/connections/conn_a"),
                json={"paused": False, "run_setup_tests": True},
                timeout=(5, 0.5),
            )
        assert sim.connection("conn_a")["paused"] is False


def test_manual_schedule_waits_for_a_sync_request(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a", schedule_type="manual")
    pending = patch(api, sim, "conn_a", is_historical_sync=True).json()["data"]
    assert pending["status"]["sync_state"] == "scheduled"
    assert pending["status"]["is_historical_sync"] is True
    clock.advance(3600)
    assert sim.connection("conn_a")["status"]["sync_state"] == "scheduled"
    assert sim.connection("conn_a")["succeeded_at"] is None

    response = api.post(url(sim, "/v1/connections/conn_a/sync"), json={"force": False})
    assert response.status_code == 200
    assert response.json()["code"] == "Success"
    assert "conn_a" in response.json()["message"]
    assert sim.connection("conn_a")["status"]["sync_state"] == "syncing"
    clock.advance(2)
    done = sim.connection("conn_a")
    assert done["succeeded_at"] is not None and done["status"]["is_historical_sync"] is False


def test_sync_request_and_force(sim: FivetranSimulator, api: requests.Session, clock: ManualClock) -> None:
    sim.add_connection("conn_a")
    assert api.post(url(sim, "/v1/connections/conn_a/sync")).status_code == 200
    assert sim.connection("conn_a")["status"]["sync_state"] == "syncing"
    clock.advance(0.5)
    api.post(url(sim, "/v1/connections/conn_a/sync"), json={"force": False})  # no restart
    clock.advance(0.6)
    first_end = sim.connection("conn_a")["succeeded_at"]
    assert first_end is not None
    api.post(url(sim, "/v1/connections/conn_a/sync"))
    clock.advance(0.5)
    api.post(url(sim, "/v1/connections/conn_a/sync"), json={"force": True})  # restarts: ends 1 s from now
    clock.advance(0.6)
    assert sim.connection("conn_a")["succeeded_at"] == first_end
    clock.advance(0.5)
    assert sim.connection("conn_a")["succeeded_at"] != first_end
    bad = api.post(url(sim, "/v1/connections/conn_a/sync"), json={"force": "yes"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidInput"


def test_broken_connection_syncs_fail(
    sim: FivetranSimulator, api: requests.Session, clock: ManualClock
) -> None:
    sim.add_connection("conn_a", setup_state="broken")
    api.post(url(sim, "/v1/connections/conn_a/sync"))
    clock.advance(2)
    data = sim.connection("conn_a")
    assert data["failed_at"] is not None and data["succeeded_at"] is None


def test_automatic_syncs_only_with_a_schedule_scale(clock: ManualClock) -> None:
    with FivetranSimulator(clock=clock, schedule_scale=1.0, sync_seconds=5) as sim:
        sim.add_connection("auto_conn", sync_frequency=60)
        sim.add_connection("manual_conn", sync_frequency=60, schedule_type="manual")
        clock.advance(59)
        assert sim.connection("auto_conn")["status"]["sync_state"] == "scheduled"
        clock.advance(2)
        assert sim.connection("auto_conn")["status"]["sync_state"] == "syncing"
        clock.advance(5)
        assert sim.connection("auto_conn")["succeeded_at"] is not None
        assert sim.connection("auto_conn")["status"]["sync_state"] == "scheduled"
        assert sim.connection("manual_conn")["succeeded_at"] is None
        clock.advance(10_000)  # a long jump runs the latest due sync, not hundreds of them
        assert sim.connection("auto_conn")["status"]["sync_state"] in {"scheduled", "syncing"}
    with FivetranSimulator(clock=clock) as sim:
        sim.add_connection("auto_conn", sync_frequency=1)
        clock.advance(10_000)
        assert sim.connection("auto_conn")["succeeded_at"] is None


def test_set_status_is_reported(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    sim.set_status(
        "conn_a",
        setup_state="broken",
        sync_state="rescheduled",
        rescheduled_for="2026-01-01T01:00:00Z",
        warnings=[{"code": "w", "message": "careful"}],
    )
    status = get_data(api, sim, "conn_a")["status"]
    assert status["setup_state"] == "broken"
    assert status["sync_state"] == "rescheduled"
    assert status["rescheduled_for"] == "2026-01-01T01:00:00.000000Z"
    assert status["warnings"] == [{"code": "w", "message": "careful"}]
    with pytest.raises(ValueError, match="sync_state"):
        sim.set_status("conn_a", sync_state="sleeping")
    with pytest.raises(ValueError, match="Unknown status field"):
        sim.set_status("conn_a", colour="blue")


# -- listing -------------------------------------------------------------------------------------------


def test_list_connections_paginates_with_a_cursor(sim: FivetranSimulator, api: requests.Session) -> None:
    for index in range(25):
        sim.add_connection(f"conn_{index:02d}", group_id="g1" if index % 2 else "g2")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        data = api.get(url(sim, "/v1/connections"), params=params).json()["data"]
        pages += 1
        seen += [item["id"] for item in data["items"]]
        cursor = data.get("next_cursor")
        if not cursor:
            break
    assert pages == 3
    assert seen == sorted(f"conn_{index:02d}" for index in range(25))

    default = api.get(url(sim, "/v1/connections")).json()["data"]
    assert len(default["items"]) == 25 and "next_cursor" not in default
    group_params: dict[str, str | int] = {"group_id": "g1", "limit": 1000}
    group = api.get(url(sim, "/v1/connections"), params=group_params).json()["data"]
    assert len(group["items"]) == 12 and {item["group_id"] for item in group["items"]} == {"g1"}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"cursor": "bogus!"}])
def test_list_connections_rejects_bad_paging(
    sim: FivetranSimulator, api: requests.Session, params: dict[str, Any]
) -> None:
    response = api.get(url(sim, "/v1/connections"), params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidInput"


# -- faults --------------------------------------------------------------------------------------------


def test_fault_status_with_retry_after_changes_nothing(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    sim.fail_next(status=429, headers={"Retry-After": "7"})
    sim.fail_next(2, status=503)
    limited = patch(api, sim, "conn_a", paused=True)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["code"] == "TooManyRequests"
    assert sim.connection("conn_a")["paused"] is False
    for _ in range(2):
        unavailable = patch(api, sim, "conn_a", paused=True)
        assert unavailable.status_code == 503
        assert set(unavailable.json()) == {"code", "message"}
    assert sim.connection("conn_a")["paused"] is False
    assert patch(api, sim, "conn_a", paused=True).status_code == 200
    assert [r.status for r in sim.requests] == [429, 503, 503, 200]
    assert [r.fault for r in sim.requests] == ["status 429", "status 503", "status 503", None]
    assert sim.requests[0].json == {"paused": True}


def test_fault_matches_path_and_method(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    sim.add_connection("conn_b")
    sim.fail_next(status=500, method="PATCH", path="/v1/connections/conn_b")
    assert api.get(url(sim, "/v1/connections/conn_b")).status_code == 200
    assert patch(api, sim, "conn_a", paused=True).status_code == 200
    assert patch(api, sim, "conn_b", paused=True).status_code == 500
    assert patch(api, sim, "conn_b", paused=True).status_code == 200
    sim.fail_next(status=502, path="/v1/connections/*", body={"code": "Proxy", "message": "upstream"})
    bad_gateway = api.get(url(sim, "/v1/connections/conn_a"))
    assert bad_gateway.status_code == 502 and bad_gateway.json() == {"code": "Proxy", "message": "upstream"}


def test_fault_delay_triggers_a_read_timeout_and_changes_nothing(
    sim: FivetranSimulator, api: requests.Session
) -> None:
    sim.add_connection("conn_a")
    sim.fail_next(delay=2.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.patch(url(sim, "/v1/connections/conn_a"), json={"paused": True}, timeout=0.2)
    # The server notices the client hanging up during the delay and records an unanswered request.
    # It records it as its handling ends: the PATCH can no longer be applied.
    while not sim.requests and time.monotonic() - started < 5:
        time.sleep(0.02)
    assert [(r.fault, r.status) for r in sim.requests] == [("delay 2s", None)]
    assert sim.connection("conn_a")["paused"] is False

    # A client that waits long enough gets the normal answer.
    sim.fail_next(delay=0.3)
    started = time.monotonic()
    assert api.get(url(sim, "/v1/connections/conn_a"), timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_drop_closes_the_connection_without_an_answer(
    sim: FivetranSimulator, api: requests.Session
) -> None:
    sim.add_connection("conn_a")
    sim.fail_next(drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        patch(api, sim, "conn_a", paused=True)
    sim.fail_next(drop=True)
    with httpx.Client(auth=(KEY, SECRET)) as client, pytest.raises(httpx.TransportError):
        client.get(url(sim, "/v1/connections/conn_a"))
    assert sim.connection("conn_a")["paused"] is False
    assert [(r.status, r.fault) for r in sim.requests] == [(None, "drop"), (None, "drop")]
    assert patch(api, sim, "conn_a", paused=True).status_code == 200


def test_fault_malformed_body(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    sim.fail_next(malformed=True)
    response = patch(api, sim, "conn_a", paused=True)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert sim.connection("conn_a")["paused"] is False


def test_fault_arguments_are_checked(sim: FivetranSimulator) -> None:
    with pytest.raises(ValueError):
        sim.fail_next(drop=True, status=500)
    with pytest.raises(ValueError):
        sim.fail_next()
    with pytest.raises(ValueError):
        sim.fail_next(0, status=500)


def test_rate_limit(sim: FivetranSimulator, api: requests.Session, clock: ManualClock) -> None:
    sim.add_connection("conn_a")
    sim.rate_limit(3, per_seconds=10)
    remaining = []
    for _ in range(3):
        response = api.get(url(sim, "/v1/connections/conn_a"))
        assert response.status_code == 200
        assert response.headers["X-Rate-Limit"] == "3"
        remaining.append(response.headers["X-Rate-Limit-Remaining"])
    assert remaining == ["2", "1", "0"]
    clock.advance(4)
    limited = api.get(url(sim, "/v1/connections/conn_a"))
    assert limited.status_code == 429
    assert limited.json()["code"] == "TooManyRequests"
    assert limited.headers["Retry-After"] == "6"
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    clock.advance(6)
    assert api.get(url(sim, "/v1/connections/conn_a")).status_code == 200
    sim.rate_limit(None)
    free = api.get(url(sim, "/v1/connections/conn_a"))
    assert free.status_code == 200 and "X-Rate-Limit" not in free.headers


# -- request log ---------------------------------------------------------------------------------------


def test_request_log_hides_the_authorization_secret(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    patch(api, sim, "conn_a", paused=True)
    api.get(url(sim, "/v1/connections"), params={"limit": "5", "group_id": "g"})
    assert sim.request_count() == 2
    assert sim.request_count(method="PATCH", path="/v1/connections/conn_a") == 1
    assert sim.request_count(method="get") == 1
    first, second = sim.requests
    assert (first.method, first.path, first.json, first.status) == (
        "PATCH",
        "/v1/connections/conn_a",
        {"paused": True},
        200,
    )
    assert first.headers["authorization"] == "<redacted>"
    assert first.headers["accept"] == "application/json;version=2"
    assert second.query == {"limit": "5", "group_id": "g"}
    encoded = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert SECRET not in repr(sim.requests) and encoded not in repr(sim.requests)
    with pytest.raises(AttributeError):
        first.status = 500  # type: ignore[misc]
    sim.clear_requests()
    assert sim.requests == [] and sim.request_count() == 0


# -- legacy paths --------------------------------------------------------------------------------------


def test_legacy_connectors_path_is_404_by_default(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    for response in (
        api.get(url(sim, "/v1/connectors/conn_a")),
        api.patch(url(sim, "/v1/connectors/conn_a"), json={"paused": True}),
        api.post(url(sim, "/v1/connectors/conn_a/force")),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "NotFound"
    assert sim.connection("conn_a")["paused"] is False


def test_legacy_connectors_path_option(clock: ManualClock, api: requests.Session) -> None:
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, clock=clock, legacy_connectors_path=True) as sim:
        sim.add_connection("conn_a")
        legacy = api.get(url(sim, "/v1/connectors/conn_a"))
        assert legacy.status_code == 200
        assert legacy.json()["data"] == get_data(api, sim, "conn_a")
        assert (
            api.patch(url(sim, "/v1/connectors/conn_a"), json={"paused": True}).json()["data"]["paused"]
            is True
        )
        api.patch(url(sim, "/v1/connectors/conn_a"), json={"paused": False})
        assert api.post(url(sim, "/v1/connectors/conn_a/force")).status_code == 200
        assert sim.connection("conn_a")["status"]["sync_state"] == "syncing"
        assert [item["id"] for item in api.get(url(sim, "/v1/connectors")).json()["data"]["items"]] == [
            "conn_a"
        ]


# -- admin ---------------------------------------------------------------------------------------------


def test_admin_endpoints_from_another_client(sim: FivetranSimulator, api: requests.Session) -> None:
    with httpx.Client(base_url=sim.url) as admin:
        assert admin.get("/__admin/health").json()["status"] == "ok"
        created = admin.post(
            "/__admin/connections", json={"id": "conn_x", "config": {"password": "p"}, "paused": True}
        )
        assert created.status_code == 201 and created.json()["data"]["config"]["password"] == "******"
        assert get_data(api, sim, "conn_x")["paused"] is True
        assert admin.get("/__admin/connections/conn_x").json()["data"]["config"]["password"] == "p"

        admin.post("/__admin/connections/conn_x/status", json={"setup_state": "broken"}).raise_for_status()
        assert get_data(api, sim, "conn_x")["status"]["setup_state"] == "broken"
        assert admin.post("/__admin/connections/conn_x/status", json={"sync_state": "?"}).status_code == 400
        assert (
            admin.post("/__admin/connections/nope/status", json={"sync_state": "paused"}).status_code == 404
        )

        assert admin.post("/__admin/faults", json={"n": 1, "status": 503}).json() == {"pending": 1}
        assert api.get(url(sim, "/v1/connections/conn_x")).status_code == 503
        assert admin.post("/__admin/faults", json={"status": "x", "drop": True}).status_code == 400

        recorded = admin.get("/__admin/requests", params={"method": "GET"}).json()
        assert recorded["count"] == 3
        assert recorded["requests"][-1]["status"] == 503
        assert recorded["requests"][-1]["headers"]["authorization"] == "<redacted>"

        admin.post("/__admin/rate_limit", json={"requests": 1, "per_seconds": 60}).raise_for_status()
        assert api.get(url(sim, "/v1/connections/conn_x")).status_code == 200
        assert api.get(url(sim, "/v1/connections/conn_x")).status_code == 429
        admin.post("/__admin/rate_limit", json={"requests": None}).raise_for_status()

        patch(api, sim, "conn_x", paused=False, is_historical_sync=True)
        admin.post("/__admin/clock/advance", json={"seconds": 5}).raise_for_status()
        assert get_data(api, sim, "conn_x")["status"]["is_historical_sync"] is False

        admin.post("/__admin/connections/conn_x/behaviour", json={"broken": True}).raise_for_status()
        assert sim.raw_connection("conn_x")["broken"] is True

        assert admin.delete("/__admin/requests").json() == {"requests": []}
        assert sim.requests == []
        assert admin.post("/__admin/reset", json={"seed": True}).json()["connections"] == sorted(
            ["ads_manual", "crm_salesforce", "legacy_mysql", "warehouse_orders"]
        )
        assert admin.post("/__admin/reset").json()["connections"]  # seeded before: seeded again
        assert admin.post("/__admin/reset", json={"seed": False}).json()["connections"] == []
        assert admin.delete("/__admin/connections/ads_manual").status_code == 404
    assert sim.requests == []  # admin calls are not recorded


def test_seed_demo(sim: FivetranSimulator, api: requests.Session) -> None:
    ids = sim.seed_demo()
    assert len(ids) >= 3
    listed = api.get(url(sim, "/v1/connections")).json()["data"]["items"]
    assert sorted(item["id"] for item in listed) == sorted(ids)
    assert "demo-postgres-password" not in json.dumps(listed)


# -- Airflow wiring, plugin, CLI ------------------------------------------------------------------------


def test_airflow_connection_json(sim: FivetranSimulator) -> None:
    conn = json.loads(sim.airflow_connection_json())
    assert conn == {"conn_type": "fivetran", "login": KEY, "password": SECRET, "host": sim.url}
    assert sim.airflow_env() == {"AIRFLOW_CONN_FIVETRAN_DEFAULT": sim.airflow_connection_json()}
    assert sim.url.startswith("http://127.0.0.1:") and sim.port > 0


def test_pytest_plugin_fixture_points_airflow_at_the_simulator(
    fivetran_airflow_conn: FivetranSimulator,
) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_FIVETRAN_DEFAULT"])
    assert conn["host"] == fivetran_airflow_conn.url
    fivetran_airflow_conn.add_connection("conn_a")
    response = requests.get(
        conn["host"] + "/v1/connections/conn_a", auth=(conn["login"], conn["password"]), timeout=5
    )
    assert response.status_code == 200


def test_pytest_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, airflow_provider_fivetran_update.testing.pytest_plugin;"
        "heavy = [m for m in ('airflow', 'uvicorn', 'starlette', 'httpx') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_only_loopback_unless_allowed() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FivetranSimulator(host="0.0.0.0")
    assert FivetranSimulator(host="0.0.0.0", allow_non_loopback=True).host == "0.0.0.0"


def test_stop_and_start_again_keeps_state() -> None:
    simulator = FivetranSimulator(api_key=KEY, api_secret=SECRET)
    simulator.add_connection("conn_a")
    with pytest.raises(RuntimeError):
        _ = simulator.url
    with simulator:
        first_url = simulator.url
        assert requests.get(first_url + "/v1/connections/conn_a", auth=(KEY, SECRET), timeout=5).ok
    assert not simulator.running
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(first_url + "/v1/connections/conn_a", auth=(KEY, SECRET), timeout=2)
    with simulator:
        assert requests.get(simulator.url + "/v1/connections/conn_a", auth=(KEY, SECRET), timeout=5).ok


def test_one_thousand_concurrent_keep_alive_clients(sim: FivetranSimulator) -> None:
    clients = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * clients:
        if hard != resource.RLIM_INFINITY and hard < 4 * clients:
            pytest.skip(f"needs {4 * clients} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (4 * clients, hard))
    sim.add_connection("conn_a")
    # Each first request is held for a moment, so all of them are in flight at the same time.
    sim.fail_next(clients, delay=0.2)
    open_connections = sim._server._app.transports  # the server's registry of open connections
    # One client per connection (a single pool of 1,000 is slow in httpcore); one shared TLS
    # context, because building one per client costs more than the whole test.
    tls = ssl.create_default_context()

    async def run() -> tuple[list[int], int, list[int], int]:
        target = url(sim, "/v1/connections/conn_a")
        pool = [httpx.AsyncClient(auth=(KEY, SECRET), verify=tls, timeout=60) for _ in range(clients)]
        try:
            first = await asyncio.gather(*(client.get(target) for client in pool))
            open_after_first = len(open_connections)
            second = await asyncio.gather(*(client.get(target) for client in pool))
            open_after_second = len(open_connections)
        finally:
            await asyncio.gather(*(client.aclose() for client in pool))
        return (
            [r.status_code for r in first],
            open_after_first,
            [r.status_code for r in second],
            open_after_second,
        )

    first, open_after_first, second, open_after_second = asyncio.run(run())
    assert first == [200] * clients
    assert second == [200] * clients
    assert open_after_first == clients  # every connection was kept alive
    assert open_after_second == clients  # and reused: the second round opened none
    assert sim.request_count() == 2 * clients
    assert [r.fault for r in sim.requests].count("delay 0.2s") == clients


def test_cli_serves_demo_connections_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_fivetran_update.testing", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("AIRFLOW_CONN_FIVETRAN_DEFAULT=") for line in lines):
            assert time.monotonic() < deadline and process.poll() is None, lines
            lines.append(process.stdout.readline().strip())
        base = next(line for line in lines if "listening on" in line).rsplit(" ", 1)[1]
        env_line = next(line for line in lines if line.startswith("AIRFLOW_CONN_FIVETRAN_DEFAULT="))
        conn = json.loads(env_line.split("=", 1)[1].strip("'"))
        assert conn["host"] == base and conn["login"] == "k"
        response = requests.get(base + "/v1/connections", auth=("k", conn["password"]), timeout=5)
        assert response.status_code == 200
        assert "warehouse_orders" in {item["id"] for item in response.json()["data"]["items"]}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_refuses_non_loopback_hosts() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_fivetran_update.testing",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr
