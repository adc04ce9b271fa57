"""FivetranUpdateConnectionOperator: change-only updates, dry runs, and waiting after the update.

The trigger in its historical sync mode runs directly (the plan and the verdict it rests on are
tested in tests/test_planning.py and tests/test_states.py); the operator runs under real Airflow
(``dag.test()``, which runs deferred tasks' triggers inline) against the simulator. Each Airflow
run holds several tasks, one per case, to keep the suite fast.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_fivetran_update.operators.fivetran import (
    CHANGES_KEY,
    FivetranUpdateConnectionOperator,
)
from airflow_provider_fivetran_update.redaction import SECRET_MASK
from airflow_provider_fivetran_update.states import (
    historical_sync_anchor,
)
from airflow_provider_fivetran_update.testing import FivetranSimulator
from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger
from tests.airflow_helpers import new_dag, run_dag, task_states, xcom
from tests.clock_helpers import run_trigger
from tests.helpers import FAST_RETRIES, logged, patches, point_airflow_at

PG_PASSWORD = "pg-password-w41t"
NEW_PASSWORD = "pg-password-n3w"
INLINE_TRIGGER_LOG = "[DAG TEST] running trigger in line"
pytestmark = pytest.mark.simulator(historical_sync_seconds=1.0)


# -- the trigger in historical sync mode, over HTTP -------------------------------------------------


@pytest.mark.simulator(historical_sync_seconds=0.3)
def test_trigger_waits_for_the_historical_sync_and_serializes_its_anchor(sim: FivetranSimulator) -> None:
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

    sim.add_connection("ok", config={"password": PG_PASSWORD})
    sim.add_connection("bad", fail_historical_sync=True)
    events = {}
    for connection_id in ("ok", "bad"):
        requested_at = time.time()
        data = FivetranHook(**FAST_RETRIES).update_connection(connection_id, is_historical_sync=True)
        trigger = FivetranConnectionStateTrigger(
            connection_id=connection_id,
            end_time=time.time() + 30,
            poll_interval=1.0,  # longer than the sync: it ends between two reads
            completed_after=historical_sync_anchor(data, requested_at=requested_at),
            **FAST_RETRIES,
        )
        _, kwargs = trigger.serialize()
        assert json.loads(json.dumps(kwargs)) == kwargs
        rebuilt = FivetranConnectionStateTrigger(**kwargs)
        assert rebuilt.completed_after == trigger.completed_after
        [events[connection_id]] = run_trigger(rebuilt)

    assert events["ok"]["status"] == "success"
    assert events["ok"]["state"]["is_historical_sync"] is False
    assert events["ok"]["connection"]["config"]["password"] == SECRET_MASK
    assert PG_PASSWORD not in json.dumps(events["ok"])
    assert events["bad"]["status"] == "failed"
    assert "Historical sync failed" in events["bad"]["message"]
    # One read while syncing, one after the poll interval: the sync ended unseen in between.
    assert sim.request_count(method="GET", path="/v1/connections/ok") == 2


# -- under Airflow ------------------------------------------------------------------------------


def _count(sim: FivetranSimulator, method: str, connection_id: str) -> int:
    return sim.request_count(method=method, path=f"/v1/connections/{connection_id}")


@pytest.mark.airflow
def test_change_only_updates_and_dry_run(
    sim: FivetranSimulator, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = {"host": "db.internal", "port": 5432, "password": PG_PASSWORD}
    for connection_id in ("same", "partial", "dry", "pause"):
        sim.add_connection(connection_id, sync_frequency=360, config=config)
    with new_dag("change_only") as dag:
        FivetranUpdateConnectionOperator(
            task_id="same",
            connection_id="same",
            only_if_changed=True,
            sync_frequency="360",
            paused=False,
            config={"host": "db.internal"},
            run_setup_tests=True,
        )
        FivetranUpdateConnectionOperator(
            task_id="partial",
            connection_id="partial",
            only_if_changed=True,
            sync_frequency=60,
            paused=False,
            config={"host": "db.internal", "port": 5433, "password": NEW_PASSWORD},
        )
        FivetranUpdateConnectionOperator(
            task_id="dry", connection_id="dry", dry_run=True, sync_frequency=60, paused=False
        )
        FivetranUpdateConnectionOperator(
            task_id="pause",
            connection_id="pause",
            only_if_changed=True,
            paused=True,
            wait_for_state={"setup_state": "connected", "sync_state": "paused"},
        )

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    assert set(task_states(dag_run).values()) == {"success"}
    # Nothing differs: exactly one GET, no PATCH, the data plus an empty diff.
    assert (_count(sim, "GET", "same"), _count(sim, "PATCH", "same")) == (1, 0)
    same = xcom(dag_run, "same")
    assert same[CHANGES_KEY] == {}
    assert same["sync_frequency"] == 360
    # Partial: only the differing fields and config keys (the masked password counts as changed).
    assert patches(sim, "partial") == [
        {"config": {"port": 5433, "password": NEW_PASSWORD}, "sync_frequency": 60}
    ]
    partial = xcom(dag_run, "partial")
    assert partial[CHANGES_KEY] == {
        "config": {
            "from": {"port": 5432, "password": SECRET_MASK},
            "to": {"port": 5433, "password": SECRET_MASK},
        },
        "sync_frequency": {"from": 360, "to": 60},
    }
    assert partial["sync_frequency"] == 60  # the PATCH answer
    # Dry run: the diff, and nothing sent.
    assert (_count(sim, "GET", "dry"), _count(sim, "PATCH", "dry")) == (1, 0)
    assert xcom(dag_run, "dry")[CHANGES_KEY] == {"sync_frequency": {"from": 360, "to": 60}}
    assert sim.connection("dry")["sync_frequency"] == 360
    # Update then wait for a state: the PATCH answer already shows it, so no further read.
    assert (_count(sim, "GET", "pause"), _count(sim, "PATCH", "pause")) == (1, 1)
    assert xcom(dag_run, "pause")["status"]["sync_state"] == "paused"

    logs = logged(caplog, capfd)
    assert '"sync_frequency": {"from": 360, "to": 60}' in logs
    assert "already has every requested value" in logs
    assert "Not sent: run_setup_tests" in logs
    assert "Dry run: Fivetran connection dry was not changed" in logs
    stored = json.dumps([xcom(dag_run, task) for task in ("same", "partial", "dry", "pause")])
    for secret in (PG_PASSWORD, NEW_PASSWORD, sim.api_secret):
        assert secret not in logs
        assert secret not in stored


@pytest.mark.airflow
def test_deferred_resync_success_failure_and_state(
    sim: FivetranSimulator, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    sim.add_connection("resync_ok", config={"password": PG_PASSWORD})
    sim.add_connection("resync_bad", fail_historical_sync=True)
    sim.add_connection("busy")
    before = sim.connection("resync_ok")["succeeded_at"]
    wait = {"deferrable": True, "poll_interval": 0.3, "timeout": 60, **FAST_RETRIES}
    with new_dag("deferred_resync") as dag:
        FivetranUpdateConnectionOperator(
            task_id="ok", connection_id="resync_ok", is_historical_sync=True, wait_for_completion=True, **wait
        )
        FivetranUpdateConnectionOperator(
            task_id="bad",
            connection_id="resync_bad",
            is_historical_sync=True,
            wait_for_completion=True,
            retries=2,
            retry_delay=timedelta(0),
            **wait,
        )
        # A resync runs (started below); the update waits until the connection is scheduled again.
        FivetranUpdateConnectionOperator(
            task_id="state",
            connection_id="busy",
            sync_frequency=60,
            wait_for_state={"setup_state": "connected", "sync_state": "scheduled"},
            **wait,
        )
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

    FivetranHook(**FAST_RETRIES).update_connection("busy", is_historical_sync=True)
    sim.clear_requests()

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    states = task_states(dag_run)
    assert states == {("ok", -1): "success", ("bad", -1): "failed", ("state", -1): "success"}
    assert INLINE_TRIGGER_LOG in caplog.text
    ok = xcom(dag_run, "ok")
    assert ok["status"]["is_historical_sync"] is False
    assert ok["status"]["sync_state"] == "scheduled"
    assert ok["succeeded_at"] and ok["succeeded_at"] != before
    assert ok["config"]["password"] == SECRET_MASK
    assert patches(sim, "resync_ok") == [{"is_historical_sync": True, "run_setup_tests": False}]
    # A failed historical sync fails at once (no retry), with Fivetran's status task in the error.
    [bad] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "bad"]
    assert bad.try_number == 1
    assert _count(sim, "PATCH", "resync_bad") == 1
    logs = logged(caplog, capfd)
    assert "The historical sync of Fivetran connection 'resync_bad' failed" in logs
    assert "Tasks: resolve_sync_failure: Historical sync failed (Historical sync of connection" in logs
    assert xcom(dag_run, "state")["status"]["sync_state"] == "scheduled"
    assert PG_PASSWORD not in logs


@pytest.mark.airflow
def test_worker_waits_between_polls_and_fails_a_resync_that_cannot_start(
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:

    # Shorter than "between"'s poll interval.
    with FivetranSimulator(historical_sync_seconds=10.0) as sim:
        point_airflow_at(sim, monkeypatch)
        sim.add_connection("between")
        sim.add_connection("stuck", paused=True)
        worker = {"deferrable": False, **FAST_RETRIES}
        with new_dag("worker_wait") as dag:
            # The poll interval is longer than the sync: it starts and ends between two reads.
            FivetranUpdateConnectionOperator(
                task_id="between",
                connection_id="between",
                is_historical_sync=True,
                wait_for_completion=True,
                poll_interval=12,
                timeout=60,
                **worker,
            )
            # Paused: the resync cannot start, so the task fails at once, and is not retried.
            FivetranUpdateConnectionOperator(
                task_id="stuck",
                connection_id="stuck",
                is_historical_sync=True,
                wait_for_completion=True,
                poll_interval=0.3,
                timeout=1,
                retries=1,
                retry_delay=timedelta(0),
                **worker,
            )

        with caplog.at_level("INFO"):
            dag_run = run_dag(dag)

        states = task_states(dag_run)
        assert states == {("between", -1): "success", ("stuck", -1): "failed"}
        tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
        assert (_count(sim, "PATCH", "between"), _count(sim, "GET", "between")) == (1, 1)
        assert xcom(dag_run, "between")["status"]["is_historical_sync"] is False
        assert tis["stuck"].try_number == 1
        assert (_count(sim, "PATCH", "stuck"), _count(sim, "GET", "stuck")) == (1, 0)
        logs = logged(caplog, capfd)
        assert "Fivetran connection 'stuck' is paused: the historical sync it was asked for" in logs


@pytest.mark.airflow
def test_a_worker_wait_retried_after_its_sync_started_does_not_send_it_again(
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The sync runs until the test moves the simulated clock on: only once the retry has read the
    # connection (and seen the sync running), however slowly this Airflow starts the retry.
    with FivetranSimulator(historical_sync_seconds=600.0) as sim:
        point_airflow_at(sim, monkeypatch)
        sim.add_connection("retried", schedule_type="manual")
        path = "/v1/connections/retried"
        with new_dag("worker_wait_retried") as dag:
            # The first try's first read fails (no hook retries): the retry must not send again.
            FivetranUpdateConnectionOperator(
                task_id="retried",
                connection_id="retried",
                is_historical_sync=True,
                wait_for_completion=True,
                start_sync_if_needed=True,
                poll_interval=0.3,
                timeout=60,
                retries=1,
                retry_delay=timedelta(0),
                deferrable=False,
                max_retries=0,
            )
        sim.fail_next(1, status=503, method="GET", path=path)

        def retry_has_read() -> bool:
            reads = [r.status for r in sim.requests if r.method == "GET" and r.path == path]
            return 503 in reads and reads[reads.index(503) + 1 :].count(200) >= 2

        def end_the_sync_once_the_retry_has_read() -> None:
            deadline = time.monotonic() + 120
            while not retry_has_read() and time.monotonic() < deadline:
                time.sleep(0.02)
            sim.advance(900)

        helper = threading.Thread(target=end_the_sync_once_the_retry_has_read, daemon=True)
        helper.start()
        with caplog.at_level("INFO"):
            dag_run = run_dag(dag)
        helper.join(5)

        assert task_states(dag_run) == {("retried", -1): "success"}
        (ti,) = dag_run.get_task_instances()
        assert ti.try_number == 2
        assert patches(sim, "retried") == [{"is_historical_sync": True, "run_setup_tests": False}]
        # The first try started the manual connection's sync; the retry found it running.
        assert sim.request_count("POST", "/v1/connections/retried/sync") == 1
        assert xcom(dag_run, "retried")["succeeded_at"] is not None
        logs = logged(caplog, capfd)
        assert "is not sent again" in logs


@pytest.mark.airflow
def test_a_rate_limit_storm_ends_each_wait_with_the_timeout_error_by_its_deadline(
    sim: FivetranSimulator, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """timeout=3 while every GET is answered 429 asking for 4 s: the operator's timeout error at
    once, in the worker and deferred, never a retryable API error after the hook's retries."""
    cases = {
        "completion_worker": {"wait_for_completion": True, "is_historical_sync": True, "deferrable": False},
        "completion_deferred": {"wait_for_completion": True, "is_historical_sync": True, "deferrable": True},
        "state_worker": {"wait_for_state": {"sync_state": "paused"}, "paused": False, "deferrable": False},
        "state_deferred": {"wait_for_state": {"sync_state": "paused"}, "paused": False, "deferrable": True},
    }
    for connection_id in cases:
        sim.add_connection(connection_id)
    with new_dag("storm") as dag:
        for connection_id, arguments in cases.items():
            FivetranUpdateConnectionOperator(
                task_id=connection_id,
                connection_id=connection_id,
                poll_interval=0.5,
                timeout=3,
                request_timeout=5,
                retry_min_wait=0.01,
                retry_max_wait=60,
                retries=2,
                **arguments,
            )
    # The PATCHes go through; every read while waiting is rate-limited.
    sim.fail_next(500, status=429, headers={"Retry-After": "4"}, method="GET")

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    for connection_id in cases:
        ti = tis[connection_id]
        assert (ti.state, ti.try_number) == ("failed", 1), connection_id  # final: not retried
        assert (_count(sim, "PATCH", connection_id), _count(sim, "GET", connection_id)) == (1, 1)
        if ti.start_date is not None:  # Airflow 2.11's dag.test() does not record it
            assert (ti.end_date - ti.start_date).total_seconds() < 3 + 5 + 5
    logs = logged(caplog, capfd)
    assert logs.count("Timed out after 3 s waiting") >= len(cases)
    assert "Fivetran asked to wait 4 s before the next request (Retry-After)" in logs
