"""A retry after a deferred wait ended in error starts over, on every supported Airflow.

Airflow 3.0 keeps a deferred task's resume method and the failed try's trigger event across a
retry (apache/airflow#56704, fixed in 3.1): without the provider's check, the retry would resume
with that event and fail with the same error. Each test defers on try 1, the trigger's read fails
(503, no hook retries), and try 2 must read Fivetran again and succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import run_dag, task_states, unique_dag_id, xcom

pytestmark = pytest.mark.airflow

PATH = "/v1/connections/c"


@pytest.fixture
def sim(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    with FivetranSimulator() as simulator:
        for name, value in simulator.airflow_env().items():
            monkeypatch.setenv(name, value)
        simulator.add_connection("c", sync_frequency=360)
        yield simulator


def _dag(name: str, **kwargs: Any) -> Any:
    from airflow_provider_fivetran_update._compat import DAG

    return DAG(
        unique_dag_id(name), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), **kwargs
    )


def _incomplete(sim: FivetranSimulator, **fields: Any) -> dict[str, Any]:
    """An answer showing the connection's setup tests still running: a wait for "connected" defers."""
    data = sim.connection("c")
    data.update(fields)
    data["status"] = {**data["status"], "setup_state": "incomplete"}
    return {"code": "Success", "data": data}


def _statuses(sim: FivetranSimulator, method: str) -> list[int]:
    return [request.status for request in sim.requests if request.method == method and request.path == PATH]


def _ti(dag_run: Any) -> Any:
    (ti,) = dag_run.get_task_instances()
    return ti


def test_update_operator_retry_after_a_failed_deferral_updates_again(sim: FivetranSimulator) -> None:
    # Try 1: the PATCH lands, but its answer shows the setup tests running, so the task defers;
    # the trigger's read gets a 503. Try 2 sends the update again and its answer is "connected".
    sim.fail_next(1, status=200, body=_incomplete(sim, sync_frequency=60), method="PATCH", after_apply=True)
    sim.fail_next(1, status=503, method="GET", path=PATH)
    with _dag("update_retry_after_deferral") as dag:
        FivetranUpdateConnectionOperator(
            task_id="update",
            connection_id="c",
            sync_frequency=60,
            wait_for_state={"setup_state": "connected"},
            deferrable=True,
            poll_interval=0.2,
            timeout=60,
            retries=1,
            retry_delay=timedelta(0),
            max_retries=0,  # the trigger's hook does not retry the 503: the task does
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {("update", -1): "success"}
    assert _ti(dag_run).try_number == 2
    assert _statuses(sim, "PATCH") == [200, 200]
    assert _statuses(sim, "GET") == [503]  # the trigger's one read; try 2's answer needed none
    assert xcom(dag_run, "update")["status"]["setup_state"] == "connected"


def test_state_sensor_retry_after_a_failed_deferral_pokes_again(sim: FivetranSimulator) -> None:
    # Try 1: the poke sees the setup tests running and defers; the trigger's read gets a 503.
    # Try 2 pokes again and sees "connected".
    sim.fail_next(1, status=200, body=_incomplete(sim), method="GET", path=PATH)
    sim.fail_next(1, status=503, method="GET", path=PATH)
    with _dag("sensor_retry_after_deferral") as dag:
        FivetranConnectionStateSensor(
            task_id="sensor",
            connection_id="c",
            expected_setup_state="connected",
            deferrable=True,
            poke_interval=0.2,
            timeout=60,
            retries=1,
            retry_delay=timedelta(0),
            max_retries=0,
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {("sensor", -1): "success"}
    assert _ti(dag_run).try_number == 2
    assert _statuses(sim, "GET") == [200, 503, 200]
    assert xcom(dag_run, "sensor")["setup_state"] == "connected"


def test_window_wait_retry_after_a_failed_deferral_waits_again(sim: FivetranSimulator) -> None:
    from airflow_provider_fivetran_update._compat import task
    from airflow_provider_fivetran_update.maintenance import fivetran_maintenance_window

    # Try 1 of wait_paused: the pause's answer still shows the sync running, so it defers; the
    # trigger's read gets a 503. Try 2 defers again and the trigger reads "paused".
    paused = sim.connection("c") | {"paused": True}
    paused["status"] = {**paused["status"], "sync_state": "syncing"}
    sim.fail_next(1, status=200, body={"code": "Success", "data": paused}, method="PATCH", after_apply=True)
    # The record's read is answered as it would be (a fault only to keep it before the 503).
    sim.fail_next(1, status=200, body={"code": "Success", "data": sim.connection("c")}, method="GET")
    sim.fail_next(1, status=503, method="GET", path=PATH)
    retries = {"retries": 1, "retry_delay": timedelta(0)}
    with _dag("window_retry_after_deferral", default_args=retries) as dag:

        @task
        def work() -> None: ...

        with fivetran_maintenance_window(
            ["c"], group_id="window", deferrable=True, poll_interval=0.2, timeout=60, max_retries=0
        ):
            work()
    dag_run = run_dag(dag)

    assert dag_run.state == "success"
    tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
    assert tries["window.wait_paused"] == 2
    assert _statuses(sim, "GET") == [200, 503, 200]  # the record, then one read per try's trigger
    assert [request.json["paused"] for request in sim.requests if request.method == "PATCH"] == [True, False]
    assert sim.connection("c")["paused"] is False
