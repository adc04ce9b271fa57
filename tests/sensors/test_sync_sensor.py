"""FivetranSyncCompletedSensor under real Airflow (poke, reschedule, deferrable), against the simulator.

Every DAG runs with ``dag.test()``; every request is counted in the simulator's log. One DAG run
holds one sensor per case.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_fivetran_update.sensors.fivetran import FivetranSyncCompletedSensor
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import new_dag, reschedule_count, run_dag, task_states, xcom
from tests.helpers import FAST_RETRIES, logged, when

SYNC_SECONDS = 2.0
pytestmark = [pytest.mark.airflow, pytest.mark.simulator(sync_seconds=SYNC_SECONDS)]
# Longer than a sync: a sync requested just before a read has started and ended before the next.
BETWEEN_POLLS = 3.0


def _count(sim: FivetranSimulator, method: str, connection_id: str) -> int:
    return sim.request_count(method=method, path=f"/v1/connections/{connection_id}")


def _tis(dag_run: Any) -> dict[str, Any]:
    return {ti.task_id: ti for ti in dag_run.get_task_instances()}


def _reschedules(dag_run: Any, task_id: str) -> int:
    return reschedule_count(_tis(dag_run)[task_id])


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_success_failure_tolerance_paused_and_names(
    sim: FivetranSimulator,
    mode: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

    earlier = "2020-01-01T00:00:00Z"
    for connection_id in ("done", "new", "failing", "tolerant", "paused"):
        sim.add_connection(connection_id, paused=connection_id == "paused")
    sim.add_connection("named", group_id="eu", schema="sales")
    sim.set_status("done", succeeded_at="2025-06-01T00:00:00Z")
    sim.set_status("named", succeeded_at="2025-06-01T00:00:00Z")
    sim.set_behaviour("failing", fail_syncs=True)
    sim.set_status("tolerant", failed_at="2025-06-01T00:00:00Z")
    sensor = {
        "poke_interval": BETWEEN_POLLS,
        "timeout": 60,
        "mode": "reschedule" if mode == "reschedule" else "poke",
        "deferrable": mode == "deferrable",
        **FAST_RETRIES,
    }
    with new_dag("sensor") as dag:
        # Completed before the sensor started, after the moment given: found by the first poke.
        FivetranSyncCompletedSensor(task_id="done", connection_id="done", completed_after=earlier, **sensor)
        # The default moment (the start of the data interval): a sync started after the first poke.
        FivetranSyncCompletedSensor(task_id="new", connection_id="new", **sensor)
        FivetranSyncCompletedSensor(
            task_id="failing", connection_id="failing", retries=1, retry_delay=timedelta(0), **sensor
        )
        FivetranSyncCompletedSensor(
            task_id="tolerant",
            connection_id="tolerant",
            completed_after="{{ params.after }}",
            params={"after": earlier},
            fail_on_sync_failure=False,
            **sensor,
        )
        FivetranSyncCompletedSensor(task_id="paused", connection_id="paused", **sensor)
        FivetranSyncCompletedSensor(
            task_id="named", connection_name="sales", group_id="eu", completed_after=earlier, **sensor
        )
    hook = FivetranHook(**FAST_RETRIES)
    helpers = [
        when(lambda c=c: _count(sim, "GET", c) >= 1, lambda c=c: hook.sync_connection(c))
        for c in ("new", "failing", "tolerant")
    ]
    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)
    for helper in helpers:
        helper.join(5)

    assert task_states(dag_run) == {
        ("done", -1): "success",
        ("new", -1): "success",
        ("failing", -1): "failed",
        ("tolerant", -1): "success",
        ("paused", -1): "failed",
        ("named", -1): "success",
    }
    tis = _tis(dag_run)
    # One read each when the first poke decides.
    assert [_count(sim, "GET", c) for c in ("done", "paused", "named")] == [1, 1, 1]
    # A sync that started after the first poke and ended before the second: found by its timestamp.
    for task_id in ("new", "failing", "tolerant"):
        assert _count(sim, "GET", task_id) == 2 + (
            _reschedules(dag_run, task_id) - 1 if mode == "reschedule" else 0
        )
    assert tis["failing"].try_number == 1  # a failed sync fails at once, without a retry
    done = xcom(dag_run, "done")
    assert done["sync"] == {
        "status": "succeeded",
        "requested_at": None,
        "completed_after": "2020-01-01T00:00:00Z",
        "succeeded_at": done["succeeded_at"],
        "failed_at": None,
    }
    new = xcom(dag_run, "new")
    assert new["sync"]["completed_after"] == dag_run.data_interval_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert xcom(dag_run, "named")["id"] == "named"
    # Sensors never request a sync themselves.
    assert sum(1 for r in sim.requests if r.method == "POST") == 3  # the test's own three
    logs = logged(caplog, capfd)
    assert "A sync of Fivetran connection 'failing' failed at" in logs
    assert "Fivetran connection 'paused' is paused, so no sync will complete" in logs
