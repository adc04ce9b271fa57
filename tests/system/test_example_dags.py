"""The example DAGs import cleanly and do their job under ``airflow dags test`` against the simulator."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import dag_bag, without_masker_requests
from tests.helpers import REPO_ROOT

EXAMPLE_DAGS = REPO_ROOT / "example_dags"

EXAMPLE_DAG_IDS = {
    "example_fivetran_maintenance",
    "example_fivetran_sync_frequency",
    "example_fivetran_historical_resync",
    "example_fivetran_sync_and_wait",
}
pytestmark = pytest.mark.airflow


def test_example_dags_import_without_errors(airflow_db: Path) -> None:
    bag = dag_bag(str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= EXAMPLE_DAG_IDS


@pytest.fixture
def demo_sim() -> Iterator[FivetranSimulator]:
    with FivetranSimulator(historical_sync_seconds=3.0) as sim:
        sim.seed_demo()
        yield sim


def _dags_test(airflow_home: Path, sim: FivetranSimulator, dag_id: str, *extra: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
    env["AIRFLOW_CONN_FIVETRAN_DEFAULT"] = sim.airflow_connection_json()
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        row = db.execute(
            "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    assert row is not None, result.stdout[-3000:] + result.stderr[-3000:]
    state = str(row[0])
    # The API secret must never reach the task output that Airflow prints.
    secret = json.loads(sim.airflow_connection_json())["password"]
    assert secret not in without_masker_requests(result.stdout + result.stderr)
    return state


MAINTENANCE_RUNNING = ["warehouse_orders", "ads_manual"]  # crm_salesforce starts paused


def _assert_maintenance_requests(sim: FivetranSimulator) -> None:
    """One GET each; a pause and an unpause for the running ones; nothing else, nothing for crm."""
    # The PATCH bodies are compared by "paused": other fields may join it without mattering here.
    assert sorted((r.method, r.path, (r.json or {}).get("paused")) for r in sim.requests) == sorted(
        [("GET", f"/v1/connections/{i}", None) for i in [*MAINTENANCE_RUNNING, "crm_salesforce"]]
        + [("PATCH", f"/v1/connections/{i}", True) for i in MAINTENANCE_RUNNING]
        + [("PATCH", f"/v1/connections/{i}", False) for i in MAINTENANCE_RUNNING]
    )
    for connection_id in MAINTENANCE_RUNNING:
        data = sim.connection(connection_id)
        assert data["paused"] is False
        assert data["status"]["sync_state"] == "scheduled"
    assert sim.connection("crm_salesforce")["paused"] is True


def test_maintenance_pauses_then_restores(airflow_db: Path, demo_sim: FivetranSimulator) -> None:
    state = _dags_test(airflow_db, demo_sim, "example_fivetran_maintenance")
    assert state == "success"
    _assert_maintenance_requests(demo_sim)


def test_maintenance_failure_still_restores_and_fails_the_run(
    airflow_db: Path, demo_sim: FivetranSimulator
) -> None:
    state = _dags_test(
        airflow_db, demo_sim, "example_fivetran_maintenance", "--conf", '{"fail_maintenance": true}'
    )
    assert state == "failed"
    _assert_maintenance_requests(demo_sim)


@pytest.mark.parametrize(("hour", "expected"), [("07", 60), ("19", 360)])
def test_sync_frequency_follows_the_logical_date(
    airflow_db: Path, demo_sim: FivetranSimulator, hour: str, expected: int
) -> None:
    state = _dags_test(
        airflow_db,
        demo_sim,
        "example_fivetran_sync_frequency",
        f"2026-01-0{5 if hour == '07' else 6}T{hour}:00:00+00:00",
    )
    assert state == "success"
    patches = [r for r in demo_sim.requests if r.method == "PATCH"]
    assert [(r.path, r.json) for r in patches] == [
        ("/v1/connections/warehouse_orders", {"sync_frequency": expected, "run_setup_tests": False})
    ]
    assert demo_sim.connection("warehouse_orders")["sync_frequency"] == expected


def test_historical_resync_waits_for_the_sync(airflow_db: Path, demo_sim: FivetranSimulator) -> None:
    before = demo_sim.connection("warehouse_orders")["succeeded_at"]
    state = _dags_test(airflow_db, demo_sim, "example_fivetran_historical_resync")
    assert state == "success"
    after = demo_sim.connection("warehouse_orders")
    assert after["status"]["is_historical_sync"] is False
    assert after["status"]["sync_state"] == "scheduled"
    assert after["succeeded_at"] and after["succeeded_at"] != before
    # One request for the sync, then only reads while it runs (3 s here, polled every 2 s).
    assert [r.json for r in demo_sim.requests if r.method == "PATCH"] == [
        {"is_historical_sync": True, "run_setup_tests": False}
    ]
    assert 1 <= demo_sim.request_count(method="GET", path="/v1/connections/warehouse_orders") <= 4
    assert {r.path for r in demo_sim.requests} == {"/v1/connections/warehouse_orders"}


def test_sync_and_wait_finds_the_connection_syncs_it_then_runs_downstream(
    airflow_db: Path, demo_sim: FivetranSimulator
) -> None:
    before = demo_sim.connection("ads_manual")
    state = _dags_test(airflow_db, demo_sim, "example_fivetran_sync_and_wait")
    assert state == "success"
    after = demo_sim.connection("ads_manual")
    assert after["succeeded_at"] and after["succeeded_at"] != before["succeeded_at"]
    assert after["schedule_type"] == "manual"  # the schedule is never touched
    requests = [(r.method, r.path) for r in demo_sim.requests]
    # One filtered listing, one read, one sync, then reads while it runs (1 s here, polled every 2 s).
    assert requests[:3] == [
        ("GET", "/v1/groups/sim_group/connections"),
        ("GET", "/v1/connections/ads_manual"),
        ("POST", "/v1/connections/ads_manual/sync"),
    ]
    assert set(requests[3:]) == {("GET", "/v1/connections/ads_manual")}
    assert 1 <= len(requests[3:]) <= 3
    assert demo_sim.requests[0].query.get("schema") == "google_ads"
