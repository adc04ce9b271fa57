"""When a historical sync starts: at once (the OpenAPI) or at the next sync (the reference page)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests

from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from tests.simulator_credentials import ACCEPT, KEY, SECRET

pytest_plugins = ["tests.simulator_fixtures"]


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[FivetranSimulator]:
    with FivetranSimulator(
        api_key=KEY, api_secret=SECRET, clock=clock, historical_sync_start="next_scheduled"
    ) as simulator:
        yield simulator


def patch(sim: FivetranSimulator, connection_id: str, **body: Any) -> dict[str, Any]:
    response = requests.patch(
        f"{sim.url}/v1/connections/{connection_id}",
        json={**body, "run_setup_tests": False},
        auth=(KEY, SECRET),
        headers=ACCEPT,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def post(sim: FivetranSimulator, path: str) -> None:
    response = requests.post(f"{sim.url}{path}", auth=(KEY, SECRET), headers=ACCEPT)
    assert response.status_code == 200, response.text


def state(sim: FivetranSimulator, connection_id: str) -> tuple[str, bool]:
    status = sim.connection(connection_id)["status"]
    return status["sync_state"], status["is_historical_sync"]


def test_the_default_is_the_openapi_reading(clock: ManualClock) -> None:
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, clock=clock) as sim:
        assert sim.historical_sync_start == "immediate"
        sim.add_connection("auto_conn")
        sim.add_connection("manual_conn", schedule_type="manual")
        sim.add_connection("paused_conn", paused=True)
        assert patch(sim, "auto_conn", is_historical_sync=True)["status"]["sync_state"] == "syncing"
        for connection_id in ("manual_conn", "paused_conn"):
            patch(sim, connection_id, is_historical_sync=True)
        clock.advance(3600)
        assert state(sim, "manual_conn") == ("scheduled", True)
        assert state(sim, "paused_conn") == ("paused", True)
        assert sim.connection("auto_conn")["succeeded_at"] is not None


def test_next_scheduled_waits_for_the_next_sync_request(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("conn_a")
    assert patch(sim, "conn_a", is_historical_sync=True)["status"]["sync_state"] == "scheduled"
    clock.advance(3600)  # no schedule_scale: Fivetran's schedule never comes
    assert state(sim, "conn_a") == ("scheduled", True)
    assert sim.connection("conn_a")["succeeded_at"] is None
    post(sim, "/v1/connections/conn_a/sync")
    assert state(sim, "conn_a") == ("syncing", True)
    clock.advance(1.5)  # longer than an incremental sync: this one is historical
    assert state(sim, "conn_a") == ("syncing", True)
    clock.advance(0.5)
    assert state(sim, "conn_a") == ("scheduled", False)
    assert sim.connection("conn_a")["succeeded_at"] is not None


def test_next_scheduled_starts_with_the_schedule(clock: ManualClock) -> None:
    with FivetranSimulator(clock=clock, schedule_scale=1.0, historical_sync_start="next_scheduled") as sim:
        sim.add_connection("conn_a", sync_frequency=60)
        clock.advance(30)
        sim.state.update("conn_a", {"is_historical_sync": True, "run_setup_tests": False})
        assert state(sim, "conn_a") == ("scheduled", True)
        clock.advance(31)
        assert state(sim, "conn_a") == ("syncing", True)
        clock.advance(2)
        assert state(sim, "conn_a") == ("scheduled", False)


def test_next_scheduled_does_not_restart_a_running_sync(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("conn_a", sync_state="syncing")
    patch(sim, "conn_a", is_historical_sync=True)
    clock.advance(1)  # the incremental sync ends as planned
    assert state(sim, "conn_a") == ("scheduled", True)
    assert sim.connection("conn_a")["succeeded_at"] is not None


def test_next_scheduled_resume_starts_nothing_by_itself(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("conn_a", paused=True)
    patch(sim, "conn_a", is_historical_sync=True)
    assert patch(sim, "conn_a", paused=False)["status"]["sync_state"] == "scheduled"
    clock.advance(3600)
    assert state(sim, "conn_a") == ("scheduled", True)


def test_next_scheduled_manual_connection_waits_for_a_sync_request(
    sim: FivetranSimulator, clock: ManualClock
) -> None:
    sim.add_connection("conn_a", schedule_type="manual")
    patch(sim, "conn_a", is_historical_sync=True)
    clock.advance(3600)
    assert state(sim, "conn_a") == ("scheduled", True)
    post(sim, "/v1/connections/conn_a/sync")
    assert state(sim, "conn_a") == ("syncing", True)


def test_resync_starts_at_once_in_either_mode(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a")
    post(sim, "/v1/connections/conn_a/resync")
    assert state(sim, "conn_a") == ("syncing", True)


def test_switching_the_mode(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a")
    with httpx.Client(base_url=sim.url) as admin:
        assert admin.get("/__admin/historical_sync_start").json() == {"mode": "next_scheduled"}
        assert admin.post("/__admin/historical_sync_start", json={"mode": "immediate"}).json() == {
            "mode": "immediate"
        }
        bad = admin.post("/__admin/historical_sync_start", json={"mode": "soon"})
        assert bad.status_code == 400 and "immediate" in bad.json()["message"]
    assert sim.historical_sync_start == "immediate"
    assert patch(sim, "conn_a", is_historical_sync=True)["status"]["sync_state"] == "syncing"
    with pytest.raises(ValueError, match="next_scheduled"):
        sim.historical_sync_start = "later"
    with pytest.raises(ValueError, match="historical_sync_start"):
        FivetranSimulator(historical_sync_start="eventually")
