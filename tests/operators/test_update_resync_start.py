"""``wait_for_completion`` never waits until its timeout for a historical sync that will not start.

Fivetran's two documents disagree on when ``is_historical_sync: true`` starts the sync: at once (the
OpenAPI) or with the next scheduled sync (the reference page); the simulator offers both
(``historical_sync_start``). Either way a paused connection, or one on a manual schedule, does not
start it by itself. The operator then fails at once, or, with ``start_sync_if_needed=True``, starts
it with ``POST /v1/connections/{id}/sync``. Each mode runs one DAG under real Airflow
(``dag.test()``) with one task per case.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import new_dag, run_dag, task_states, xcom
from tests.helpers import logged

pytestmark = [pytest.mark.airflow, pytest.mark.simulator(historical_sync_seconds=1.0)]

WORKER = {
    "is_historical_sync": True,
    "wait_for_completion": True,
    "deferrable": False,
    "poll_interval": 0.3,
    "timeout": 60,
    "retries": 1,
    "retry_delay": timedelta(0),
    "retry_min_wait": 0.01,
    "retry_max_wait": 0.05,
}

# When the historical sync starts: at once (the OpenAPI), or with the next scheduled sync.
MODES = [
    pytest.param(mode, marks=pytest.mark.simulator(historical_sync_start=mode))
    for mode in ("immediate", "next_scheduled")
]


@pytest.fixture
def sim(sim: FivetranSimulator) -> FivetranSimulator:
    sim.add_connection("manual", schedule_type="manual")
    sim.add_connection("paused", paused=True)
    sim.add_connection("auto", schedule_type="auto")
    return sim


def _count(sim: FivetranSimulator, method: str, path: str) -> int:
    return sim.request_count(method=method, path=path)


@pytest.mark.parametrize("mode", MODES)
def test_a_resync_that_will_not_start_fails_at_once_or_is_started(
    mode: str, sim: FivetranSimulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with new_dag(f"resync_start_{mode}") as dag:
        FivetranUpdateConnectionOperator(task_id="manual_fails", connection_id="manual", **WORKER)
        FivetranUpdateConnectionOperator(
            task_id="paused_fails", connection_id="paused", start_sync_if_needed=True, **WORKER
        )
    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)
    logs = logged(caplog, capfd)

    assert task_states(dag_run) == {("manual_fails", -1): "failed", ("paused_fails", -1): "failed"}
    # At once, and for good: one try, one PATCH, no read, no sync request.
    assert {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()} == {
        "manual_fails": 1,
        "paused_fails": 1,
    }
    for connection_id in ("manual", "paused"):
        path = f"/v1/connections/{connection_id}"
        assert (
            _count(sim, "PATCH", path),
            _count(sim, "GET", path),
            _count(sim, "POST", path + "/sync"),
        ) == (
            1,
            0,
            0,
        )
    assert (
        "Fivetran connection 'manual' is on a manual schedule: Fivetran starts the historical sync it "
        "was asked for only when a sync is triggered" in logs
    )
    assert "Pass start_sync_if_needed=True to have the task send POST /v1/connections/manual/sync" in logs
    assert "Fivetran connection 'paused' is paused" in logs
    assert "start_sync_if_needed does not resume a connection" in logs


@pytest.mark.parametrize("mode", MODES)
def test_start_sync_if_needed_starts_what_fivetran_does_not(
    mode: str, sim: FivetranSimulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with new_dag(f"resync_started_{mode}") as dag:
        for connection_id in ("manual", "auto"):
            FivetranUpdateConnectionOperator(
                task_id=connection_id, connection_id=connection_id, start_sync_if_needed=True, **WORKER
            )
    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    assert task_states(dag_run) == {("manual", -1): "success", ("auto", -1): "success"}
    for connection_id in ("manual", "auto"):
        result = xcom(dag_run, connection_id)
        assert result["status"]["is_historical_sync"] is False and result["succeeded_at"], result
        assert _count(sim, "PATCH", f"/v1/connections/{connection_id}") == 1
    # A manual connection never starts by itself; an automatic one does at once in the OpenAPI's
    # reading and with its next scheduled sync in the reference page's, which the task does not await.
    started_by_fivetran = sim.historical_sync_start == "immediate"
    assert _count(sim, "POST", "/v1/connections/manual/sync") == 1
    assert _count(sim, "POST", "/v1/connections/auto/sync") == (0 if started_by_fivetran else 1)
    logs = logged(caplog, capfd)
    assert (
        "Fivetran connection manual has not started its historical sync (manual schedule); starting it "
        "with POST /v1/connections/manual/sync (start_sync_if_needed=True)." in logs
    )


@pytest.mark.simulator(historical_sync_start="next_scheduled")
def test_without_the_option_an_automatic_connection_waits_for_its_scheduled_sync(
    sim: FivetranSimulator,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The reference page's reading: the sync starts with the next scheduled one; the task waits."""
    with new_dag("resync_waits_for_schedule") as dag:
        # The simulator schedules no sync by itself: the wait ends at the timeout.
        FivetranUpdateConnectionOperator(task_id="auto", connection_id="auto", **{**WORKER, "timeout": 1})
    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    assert task_states(dag_run) == {("auto", -1): "failed"}
    assert _count(sim, "POST", "/v1/connections/auto/sync") == 0
    assert _count(sim, "PATCH", "/v1/connections/auto") == 1
    logs = logged(caplog, capfd)
    assert "starts its historical sync with its next scheduled sync" in logs
    assert "Pass start_sync_if_needed=True to start it at once" in logs
    assert "Timed out after 1 s waiting" in logs
