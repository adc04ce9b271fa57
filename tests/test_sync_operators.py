"""The sync and re-sync operators and the sync sensor under real Airflow, against the simulator.

Every DAG runs with ``dag.test()`` (deferred tasks' triggers run inline); every request is counted
in the simulator's log. One DAG run holds several tasks, one per case, to keep the suite fast.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_fivetran_update.operators.fivetran import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    FivetranResyncConnectionOperator,
    FivetranSyncConnectionOperator,
)
from airflow_provider_fivetran_update.redaction import SECRET_MASK
from airflow_provider_fivetran_update.sensors.fivetran import FivetranSyncCompletedSensor
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import run_dag, task_states, unique_dag_id, xcom

pytestmark = pytest.mark.airflow

PASSWORD = "pg-password-5ync"
FAST = {"retry_min_wait": 0.01, "retry_max_wait": 0.05}
SYNC_SECONDS = 2.0
# Longer than a sync: a sync requested just before a read has started and ended before the next.
BETWEEN_POLLS = 3.0


@pytest.fixture
def sim(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    with FivetranSimulator(sync_seconds=SYNC_SECONDS, historical_sync_seconds=SYNC_SECONDS) as simulator:
        for name, value in simulator.airflow_env().items():
            monkeypatch.setenv(name, value)
        yield simulator


def _dag(name: str) -> Any:
    from airflow.sdk import DAG

    return DAG(unique_dag_id(name), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))


def _count(sim: FivetranSimulator, method: str, connection_id: str, suffix: str = "") -> int:
    return sim.request_count(method=method, path=f"/v1/connections/{connection_id}{suffix}")


def _tis(dag_run: Any) -> dict[str, Any]:
    return {ti.task_id: ti for ti in dag_run.get_task_instances()}


def _when(condition: Callable[[], bool], action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` in a thread once ``condition`` holds (a DAG run is going on meanwhile)."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    return caplog.text + "".join(capfd.readouterr())


# -- parse time -------------------------------------------------------------------------------------


def test_arguments_are_checked_when_the_dag_is_parsed() -> None:
    with _dag("parse"):
        with pytest.raises(ValueError, match=r"pass connection_id .* or connection_name .* got neither"):
            FivetranSyncConnectionOperator(task_id="none")
        with pytest.raises(ValueError, match="not both"):
            FivetranSyncConnectionOperator(task_id="both", connection_id="a", connection_name="b")
        with pytest.raises(ValueError, match="group_id only narrows"):
            FivetranSyncCompletedSensor(task_id="group", connection_id="a", group_id="g")
        with pytest.raises(ValueError, match=r"'scope'.*non-empty list"):
            FivetranResyncConnectionOperator(task_id="scope", connection_id="a", scope={"public": []})
        with pytest.raises(ValueError, match="'completed_after'"):
            FivetranSyncCompletedSensor(task_id="when", connection_id="a", completed_after="yesterday")
        with pytest.raises(ValueError, match="poll_interval"):
            FivetranSyncConnectionOperator(task_id="poll", connection_id="a", poll_interval=0)
        # Templates are checked once rendered.
        FivetranResyncConnectionOperator(task_id="t1", connection_id="a", scope="{{ params.scope }}")
        FivetranSyncCompletedSensor(
            task_id="t2", connection_name="{{ params.name }}", completed_after="{{ ds }}"
        )


def test_templated_fields_and_the_dashboard_link() -> None:
    assert set(FivetranSyncConnectionOperator.template_fields) == {
        "connection_id",
        "connection_name",
        "group_id",
        "fivetran_conn_id",
    }
    assert "scope" in FivetranResyncConnectionOperator.template_fields
    assert "completed_after" in FivetranSyncCompletedSensor.template_fields
    for cls in (
        FivetranSyncConnectionOperator,
        FivetranResyncConnectionOperator,
        FivetranSyncCompletedSensor,
    ):
        assert any(isinstance(link, FivetranConnectionLink) for link in cls.operator_extra_links)


# -- the sync operator ------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_sync_success_paused_broken_and_no_wait(
    sim: FivetranSimulator,
    deferrable: bool,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sim.add_connection("ok", config={"host": "db", "password": PASSWORD}, schedule_type="auto")
    sim.add_connection("paused", paused=True)
    sim.add_connection("resumed", paused=True)
    sim.add_connection("broken", setup_state="broken", broken=True)
    sim.add_connection("nowait")
    before = sim.connection("ok")["succeeded_at"]
    wait = {"deferrable": deferrable, "poll_interval": BETWEEN_POLLS, "timeout": 60, **FAST}
    with _dag("sync") as dag:
        FivetranSyncConnectionOperator(task_id="ok", connection_id="ok", **wait)
        FivetranSyncConnectionOperator(
            task_id="paused", connection_id="paused", retries=1, retry_delay=timedelta(0), **wait
        )
        FivetranSyncConnectionOperator(
            task_id="resumed", connection_id="resumed", resume_if_paused=True, **wait
        )
        FivetranSyncConnectionOperator(task_id="broken", connection_id="broken", **wait)
        FivetranSyncConnectionOperator(
            task_id="nowait", connection_id="nowait", wait_for_completion=False, **wait
        )

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    assert task_states(dag_run) == {
        ("ok", -1): "success",
        ("paused", -1): "failed",
        ("resumed", -1): "success",
        ("broken", -1): "failed",
        ("nowait", -1): "success",
    }
    tis = _tis(dag_run)
    # The sync ends between the read before the request and the first poll: found by its timestamp.
    assert (_count(sim, "GET", "ok"), _count(sim, "POST", "ok", "/sync")) == (2, 1)
    assert [r.json for r in sim.requests if r.path == "/v1/connections/ok/sync"] == [{"force": False}]
    ok = xcom(dag_run, "ok")
    assert ok["sync"]["status"] == "succeeded"
    assert ok["succeeded_at"] != before and ok["succeeded_at"] == ok["sync"]["succeeded_at"]
    assert ok["config"]["password"] == SECRET_MASK
    assert xcom(dag_run, "ok", key=DASHBOARD_URL_XCOM_KEY).endswith("/connections/ok/status")
    # The schedule was never touched.
    assert sim.connection("ok")["schedule_type"] == "auto"
    assert _count(sim, "PATCH", "ok") == 0
    # Paused: one read, nothing sent, no retry.
    assert (_count(sim, "GET", "paused"), _count(sim, "POST", "paused", "/sync")) == (1, 0)
    assert tis["paused"].try_number == 1
    # Resumed when asked: one PATCH (paused=false), then the sync.
    assert [r.json for r in sim.requests if r.method == "PATCH"] == [{"paused": False}]
    assert _count(sim, "POST", "resumed", "/sync") == 1
    assert xcom(dag_run, "resumed")["paused"] is False
    # Broken: one read, nothing sent.
    assert (_count(sim, "GET", "broken"), _count(sim, "POST", "broken", "/sync")) == (1, 0)
    # Without waiting: one read, one request, and the outcome says so.
    assert (_count(sim, "GET", "nowait"), _count(sim, "POST", "nowait", "/sync")) == (1, 1)
    assert xcom(dag_run, "nowait")["sync"]["status"] == "requested"

    logs = _logs(caplog, capfd)
    assert "Fivetran connection 'paused' is paused, so a sync would not run; nothing was requested" in logs
    assert "resume_if_paused=True" in logs
    assert "Fivetran connection 'broken' is broken, so a sync would fail; nothing was requested" in logs
    assert PASSWORD not in logs and sim.api_secret not in logs
    assert PASSWORD not in json.dumps([xcom(dag_run, task) for task in ("ok", "resumed", "nowait")])


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_retry_after_the_sync_request_landed_sends_no_second_sync(
    sim: FivetranSimulator, deferrable: bool
) -> None:
    sim.add_connection("retried")
    with _dag("sync_retry") as dag:
        FivetranSyncConnectionOperator(
            task_id="retried",
            connection_id="retried",
            force=True,
            deferrable=deferrable,
            poll_interval=0.3,
            timeout=60,
            retries=1,
            retry_delay=timedelta(0),
            max_retries=0,
        )
    # The first read after the request fails, and the hook does not retry it: the task does.
    helper = _when(
        lambda: _count(sim, "POST", "retried", "/sync") >= 1,
        lambda: sim.fail_next(1, status=503, method="GET", path="/v1/connections/retried"),
    )
    dag_run = run_dag(dag)
    helper.join(5)

    assert task_states(dag_run) == {("retried", -1): "success"}
    assert _tis(dag_run)["retried"].try_number == 2
    # A forced sync requested again would restart the running one: it was sent once.
    assert _count(sim, "POST", "retried", "/sync") == 1
    assert xcom(dag_run, "retried")["sync"]["requested_at"] is None  # this try requested nothing


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_429_during_the_wait_is_retried_after_retry_after(sim: FivetranSimulator, deferrable: bool) -> None:
    sim.add_connection("limited")
    with _dag("sync_429") as dag:
        FivetranSyncConnectionOperator(
            task_id="limited",
            connection_id="limited",
            deferrable=deferrable,
            poll_interval=BETWEEN_POLLS,
            timeout=60,
            retry_min_wait=0.01,
            retry_max_wait=1.0,
        )
    helper = _when(
        lambda: _count(sim, "POST", "limited", "/sync") >= 1,
        lambda: sim.fail_next(
            2, status=429, headers={"Retry-After": "1"}, method="GET", path="/v1/connections/limited"
        ),
    )
    dag_run = run_dag(dag)
    helper.join(5)

    assert task_states(dag_run) == {("limited", -1): "success"}
    assert _tis(dag_run)["limited"].try_number == 1
    # The read before the request, two 429s, then the answer.
    assert _count(sim, "GET", "limited") == 4
    assert [r.status for r in sim.requests if r.path == "/v1/connections/limited" and r.method == "GET"] == [
        200,
        429,
        429,
        200,
    ]
    assert _count(sim, "POST", "limited", "/sync") == 1
