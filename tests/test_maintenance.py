"""fivetran_maintenance_window: its layout, and real DAG runs (``dag.test()``) against the simulator.

Each run uses real Airflow (in-process execution API, real XComs, setup/teardown semantics, mapped
tasks, triggers run inline) and the simulated Fivetran API over HTTP; nothing is mocked.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, Param, task

from airflow_provider_fivetran_update._compat import AirflowSkipException
from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.maintenance import fivetran_maintenance_window, parse_connection_ids
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import run_dag, task_states, unique_dag_id, xcom

pytestmark = pytest.mark.airflow

SOURCE_PASSWORD = "maintenance-source-password-93"
INLINE_TRIGGER_LOG = "[DAG TEST] running trigger in line"
G = "fivetran_maintenance"
# 200 passes too (one GET and two PATCHes each, 601 task instances) but takes ~200 s under
# dag.test on a busy 2-core machine, near the 300 s test timeout; 100 proves the same in half.
# Airflow 3.1's dag.test() starts each task instance through an in-process API call that gets
# slower as the run grows (100 connections take over 15 minutes there), so the compatibility run
# proves the same wiring with fewer; the window's code is the same on every version.
_AIRFLOW_3_1 = importlib.metadata.version("apache-airflow").startswith("3.1.")
N_MANY = int(os.environ.get("FIVETRAN_WINDOW_CONNECTIONS", "30" if _AIRFLOW_3_1 else "100"))


@pytest.fixture
def fivetran_simulator_options() -> dict[str, Any]:
    # A sync that is still running when the window starts keeps "syncing" for a few seconds.
    return {"sync_seconds": 4.0}


@pytest.fixture
def sim(airflow_db: Path, fivetran_airflow_conn: FivetranSimulator) -> FivetranSimulator:
    return fivetran_airflow_conn


def _count(sim: FivetranSimulator, method: str, connection_id: str) -> int:
    return sim.request_count(method=method, path=f"/v1/connections/{connection_id}")


def _patches(sim: FivetranSimulator, connection_id: str) -> list[Any]:
    return [
        r.json for r in sim.requests if r.method == "PATCH" and r.path == f"/v1/connections/{connection_id}"
    ]


def _dag(name: str, build: Callable[[], None], **dag_kwargs: Any) -> DAG:
    with DAG(
        unique_dag_id(f"fivetran_window_{name}"),
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        **dag_kwargs,
    ) as dag:
        build()
    return dag


def _all_xcom_text(dag_run: Any) -> str:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
        ).all()
        return json.dumps([XComModel.deserialize_value(row) for row in rows], default=str)


# -- without running ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b", "a"], ["a", "b"]),
        ('["a", "b"]', ["a", "b"]),
        ("['a', 'b']", ["a", "b"]),  # "{{ params.ids }}" without native rendering
        (" a, b ,", ["a", "b"]),
        ("a", ["a"]),
    ],
)
def test_parse_connection_ids(value: Any, expected: list[str]) -> None:
    assert parse_connection_ids(value) == expected


@pytest.mark.parametrize("value", [[], "", ["a b"], [1], {"a": 1}, "[not a list"])
def test_parse_connection_ids_rejects(value: Any) -> None:
    with pytest.raises(FivetranValidationError):
        parse_connection_ids(value)


def test_literal_ids_are_checked_when_the_dag_is_parsed_templates_later() -> None:
    with pytest.raises(FivetranValidationError, match="connection_ids"):
        _dag("bad_ids", lambda: fivetran_maintenance_window([""]).__enter__())
    for templated in (["{{ var.value.orders_id }}"], "{{ params.ids }}"):
        with DAG(unique_dag_id("tpl"), schedule=None), fivetran_maintenance_window(templated):
            pass


def test_layout_wraps_only_the_blocks_roots_and_leaves() -> None:
    def build() -> None:
        @task
        def first() -> None: ...

        @task
        def second() -> None: ...

        @task
        def after() -> None: ...

        with fivetran_maintenance_window(["a", "b"], group_id="window") as window:
            first() >> second()
        window >> after()  # after the restore too, not only after the work

    dag = _dag("layout", build)
    tasks = dag.task_dict
    assert set(tasks) == {
        "window.record",
        "window.pause",
        "window.wait_paused",
        "window.first",
        "window.second",
        "window.restore",
        "after",
    }
    pause, restore = tasks["window.pause"], tasks["window.restore"]
    assert pause.is_setup and restore.is_teardown and restore.on_failure_fail_dagrun
    assert not tasks["window.record"].is_setup  # clearing the work must not re-record
    assert tasks["window.first"].upstream_task_ids == {"window.wait_paused"}
    assert tasks["window.second"].upstream_task_ids == {"window.first"}
    assert tasks["window.second"].downstream_task_ids == {"window.restore", "after"}
    assert restore.upstream_task_ids == {"window.record", "window.pause", "window.second"}
    # Downstream of the window means after the restore too (a plain group would skip teardowns).
    assert tasks["after"].upstream_task_ids == {"window.second", "window.restore"}


# -- real runs ------------------------------------------------------------------------------------


def test_failed_work_restores_and_fails_the_run_already_paused_untouched(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_running", config={"host": "db", "password": SOURCE_PASSWORD})
    sim.add_connection("pg_paused", paused=True)

    def build() -> None:
        @task
        def work() -> None:
            assert sim.connection("pg_running")["status"]["sync_state"] == "paused"
            raise RuntimeError("the maintenance failed")

        with fivetran_maintenance_window(["pg_running", "pg_paused"], poll_interval=0.5, timeout=60):
            work()

    dag_run = run_dag(_dag("work_fails", build))

    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states[(f"{G}.work", -1)] == "failed"
    assert states[(f"{G}.restore", 0)] == states[(f"{G}.restore", 1)] == "success"
    running, paused = sim.connection("pg_running"), sim.connection("pg_paused")
    assert running["paused"] is False and running["status"]["sync_state"] == "scheduled"
    assert paused["paused"] is True
    # The minimum: one GET each, and PATCHes only for the connection that was running.
    assert _patches(sim, "pg_running") == [
        {"paused": True, "run_setup_tests": False},
        {"paused": False, "run_setup_tests": False},
    ]
    assert _count(sim, "GET", "pg_running") == _count(sim, "GET", "pg_paused") == 1
    assert _count(sim, "PATCH", "pg_paused") == 0
    assert xcom(dag_run, f"{G}.record") == [
        {"connection_id": "pg_running", "paused": False, "sync_state": "scheduled"},
        {"connection_id": "pg_paused", "paused": True, "sync_state": "paused"},
    ]
    text = _all_xcom_text(dag_run)
    assert SOURCE_PASSWORD not in text and sim.api_secret not in text and "config" not in text


def test_skipped_work_still_restores(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_a")

    def build() -> None:
        @task
        def work() -> None:
            raise AirflowSkipException("nothing to do today")

        with fivetran_maintenance_window("pg_a", poll_interval=0.5, timeout=60):
            work()

    dag_run = run_dag(_dag("work_skipped", build))

    assert dag_run.state == "success"
    assert task_states(dag_run)[(f"{G}.work", -1)] == "skipped"
    assert _patches(sim, "pg_a") == [
        {"paused": True, "run_setup_tests": False},
        {"paused": False, "run_setup_tests": False},
    ]
    assert sim.connection("pg_a")["paused"] is False


@pytest.mark.timeout(900)
def test_hundreds_of_ids_from_a_template_with_exact_request_counts(sim: FivetranSimulator) -> None:
    ids = [f"conn_{i:03d}" for i in range(N_MANY)]
    already_paused = set(ids[::10])
    for connection_id in ids:
        sim.add_connection(connection_id, paused=connection_id in already_paused)

    def build() -> None:
        @task
        def work() -> None: ...

        with fivetran_maintenance_window("{{ params.connection_ids }}", poll_interval=0.5, timeout=60):
            work()

    dag = _dag("many", build, params={"connection_ids": Param(ids, type="array")})
    started = time.monotonic()
    dag_run = run_dag(dag)
    print(f"\n{N_MANY} connections: DAG run took {time.monotonic() - started:.1f} s")

    assert dag_run.state == "success"
    running = len(ids) - len(already_paused)
    assert sim.request_count(method="GET") == len(ids)
    assert sim.request_count(method="PATCH") == 2 * running
    assert len(sim.requests) == len(ids) + 2 * running
    for connection_id in ids:
        assert sim.connection(connection_id)["paused"] is (connection_id in already_paused)
    assert {
        ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == f"{G}.restore"
    } == set(ids)


# The finishing sync must outlast the time dag.test() takes to reach the wait (seconds on 3.1).
@pytest.mark.parametrize("fivetran_simulator_options", [{"sync_seconds": 10.0}])
def test_xcomarg_ids_and_a_deferred_wait(sim: FivetranSimulator, caplog: pytest.LogCaptureFixture) -> None:
    sim.add_connection("pg_a")
    # Paused, but a sync is still finishing: the window waits (deferred) until it reports "paused".
    sim.add_connection("pg_finishing", paused=True, sync_state="syncing")

    def build() -> None:
        @task
        def ids() -> str:
            return "pg_a,pg_finishing"

        @task
        def work() -> None: ...

        with fivetran_maintenance_window(ids(), deferrable=True, poll_interval=0.5, timeout=60):
            work()

    with caplog.at_level("INFO"):
        dag_run = run_dag(_dag("xcomarg_deferred", build))

    assert dag_run.state == "success"
    assert INLINE_TRIGGER_LOG in caplog.text
    assert xcom(dag_run, f"{G}.wait_paused", map_index=1)["sync_state"] == "paused"
    assert _count(sim, "GET", "pg_a") == 1  # no wait needed: the PATCH answers showed the state
    assert _count(sim, "GET", "pg_finishing") >= 2  # the record, then the trigger's polls
    assert _count(sim, "PATCH", "pg_finishing") == 0
    assert sim.connection("pg_a")["paused"] is False
    assert sim.connection("pg_finishing")["paused"] is True


def test_a_retried_pause_keeps_the_recorded_state(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_a")

    def fail_first_pause_try(context: Any, result: Any) -> None:
        ti = context["ti"]
        if ti.task_id == f"{G}.pause" and ti.try_number == 1:
            raise RuntimeError("the worker died right after the pause")

    def build() -> None:
        @task
        def work() -> None: ...

        with fivetran_maintenance_window(["pg_a"], poll_interval=0.5, timeout=60):
            work()

    dag = _dag(
        "pause_retry",
        build,
        default_args={"retries": 1, "retry_delay": timedelta(0), "post_execute": fail_first_pause_try},
    )
    dag_run = run_dag(dag)

    assert dag_run.state == "success"
    pause_ti = next(ti for ti in dag_run.get_task_instances() if ti.task_id == f"{G}.pause")
    assert pause_ti.try_number == 2
    assert xcom(dag_run, f"{G}.record")[0]["paused"] is False
    # The second try paused again (the connection was already paused by the first) and the restore
    # still unpaused it, because the record was read once, before anything was paused.
    assert _patches(sim, "pg_a") == [
        {"paused": True, "run_setup_tests": False},
        {"paused": True, "run_setup_tests": False},
        {"paused": False, "run_setup_tests": False},
    ]
    assert _count(sim, "GET", "pg_a") == 1
    assert sim.connection("pg_a")["paused"] is False
