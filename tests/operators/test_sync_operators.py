"""The sync and re-sync operators under real Airflow, against the simulator.

Every DAG runs with ``dag.test()`` (deferred tasks' triggers run inline); every request is counted
in the simulator's log. One DAG run holds several tasks, one per case, to keep the suite fast.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

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
from tests.airflow_helpers import new_dag, run_dag, task_states, xcom
from tests.helpers import FAST_RETRIES, logged, when

PASSWORD = "pg-password-5ync"
SYNC_SECONDS = 2.0
pytestmark = [
    pytest.mark.airflow,
    pytest.mark.simulator(sync_seconds=SYNC_SECONDS, historical_sync_seconds=SYNC_SECONDS),
]
# Longer than a sync: a sync requested just before a read has started and ended before the next.
BETWEEN_POLLS = 3.0


def _count(sim: FivetranSimulator, method: str, connection_id: str, suffix: str = "") -> int:
    return sim.request_count(method=method, path=f"/v1/connections/{connection_id}{suffix}")


def _tis(dag_run: Any) -> dict[str, Any]:
    return {ti.task_id: ti for ti in dag_run.get_task_instances()}


# -- parse time -------------------------------------------------------------------------------------


def test_arguments_are_checked_when_the_dag_is_parsed() -> None:
    with new_dag("parse"):
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
        # A DAG written for airflow-provider-fivetran-async is told what to pass instead.
        with pytest.raises(TypeError, match=r"got 'connector_id'.*here pass connection_id"):
            FivetranSyncConnectionOperator(task_id="astro", connector_id="a")
        with pytest.raises(TypeError, match=r"'completed_after_time'.*here pass completed_after"):
            FivetranSyncCompletedSensor(task_id="astro2", connection_id="a", completed_after_time="x")
        with pytest.raises(TypeError, match=r"'schedule_type'.*never changed"):
            FivetranResyncConnectionOperator(task_id="astro3", connection_id="a", schedule_type="manual")
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
    wait = {"deferrable": deferrable, "poll_interval": BETWEEN_POLLS, "timeout": 60, **FAST_RETRIES}
    with new_dag("sync") as dag:
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
    assert ok["sync"]["requested_at"] is not None
    assert ok["sync"]["completed_after"] <= ok["sync"]["requested_at"] < ok["succeeded_at"]
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
    assert [r.json for r in sim.requests if r.method == "PATCH"] == [
        {"paused": False, "run_setup_tests": False}
    ]
    assert _count(sim, "POST", "resumed", "/sync") == 1
    assert xcom(dag_run, "resumed")["paused"] is False
    # Broken: one read, nothing sent.
    assert (_count(sim, "GET", "broken"), _count(sim, "POST", "broken", "/sync")) == (1, 0)
    # Without waiting: one read, one request, and the outcome says so.
    assert (_count(sim, "GET", "nowait"), _count(sim, "POST", "nowait", "/sync")) == (1, 1)
    assert xcom(dag_run, "nowait")["sync"]["status"] == "requested"

    logs = logged(caplog, capfd)
    assert "Fivetran connection 'paused' is paused, so a sync would not run; nothing was requested" in logs
    assert "resume_if_paused=True" in logs
    assert "Fivetran connection 'broken' is broken, so a sync would fail; nothing was requested" in logs
    assert PASSWORD not in logs and sim.api_secret not in logs
    assert PASSWORD not in json.dumps([xcom(dag_run, task) for task in ("ok", "resumed", "nowait")])


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
@pytest.mark.parametrize(
    ("operator", "action"),
    [(FivetranSyncConnectionOperator, "/sync"), (FivetranResyncConnectionOperator, "/resync")],
    ids=["sync", "resync"],
)
@pytest.mark.simulator(sync_seconds=600, historical_sync_seconds=600)  # until the test moves its clock
def test_retry_after_the_request_landed_sends_it_once(
    sim: FivetranSimulator, operator: type[Any], action: str, deferrable: bool
) -> None:
    sim.add_connection("retried")
    path = "/v1/connections/retried"
    extra = {"force": True} if action == "/sync" else {}
    with new_dag("retry") as dag:
        operator(
            task_id="retried",
            connection_id="retried",
            deferrable=deferrable,
            poll_interval=0.3,
            timeout=60,
            retries=1,
            retry_delay=timedelta(0),
            max_retries=0,  # the hook does not retry the failed read: the task does
            **extra,
        )
    helpers = [
        # The first read after the request fails...
        when(
            lambda: _count(sim, "POST", "retried", action) >= 1,
            lambda: sim.fail_next(1, status=503, method="GET", path=path),
        ),
        # ...and once the retry has read the connection (and seen it running), the sync ends.
        when(lambda: _count(sim, "GET", "retried") >= 3, lambda: sim.advance(900)),
    ]
    dag_run = run_dag(dag)
    for helper in helpers:
        helper.join(5)

    assert task_states(dag_run) == {("retried", -1): "success"}
    # A second forced sync or re-sync would restart the running one: it was sent once.
    assert (_tis(dag_run)["retried"].try_number, _count(sim, "POST", "retried", action)) == (2, 1)
    outcome = xcom(dag_run, "retried")["sync"]
    assert outcome["status"] == "succeeded"
    assert outcome["requested_at"] is None  # the retry requested nothing


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_429_during_the_wait_is_retried_after_retry_after(sim: FivetranSimulator, deferrable: bool) -> None:
    sim.add_connection("limited")
    with new_dag("sync_429") as dag:
        FivetranSyncConnectionOperator(
            task_id="limited",
            connection_id="limited",
            deferrable=deferrable,
            poll_interval=BETWEEN_POLLS,
            timeout=60,
            retry_min_wait=0.01,
            retry_max_wait=1.0,
        )
    helper = when(
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


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_failure_rescheduled_recovery_and_names(
    sim: FivetranSimulator,
    deferrable: bool,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sim.add_connection("failing")
    sim.set_behaviour("failing", fail_syncs=True)
    sim.add_connection("later")
    sim.reschedule_next_sync("later", 2.0)
    sim.add_connection("fixable", setup_state="broken")
    sim.add_connection("hopeless", setup_state="broken", broken=True)
    sim.add_connection("by_name_us", group_id="us", schema="sales")
    sim.add_connection("by_name_eu", group_id="eu", schema="sales")
    wait = {"deferrable": deferrable, "poll_interval": 1.0, "timeout": 60, **FAST_RETRIES}
    with new_dag("sync_more") as dag:
        FivetranSyncConnectionOperator(
            task_id="failing", connection_id="failing", retries=1, retry_delay=timedelta(0), **wait
        )
        FivetranSyncConnectionOperator(task_id="later", connection_id="later", **wait)
        FivetranSyncConnectionOperator(
            task_id="fixable", connection_id="fixable", recover_broken=True, **wait
        )
        FivetranSyncConnectionOperator(
            task_id="hopeless", connection_id="hopeless", recover_broken=True, **wait
        )
        FivetranSyncConnectionOperator(
            task_id="by_name",
            connection_name="{{ params.name }}",
            group_id="eu",
            params={"name": "sales"},
            **wait,
        )

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    assert task_states(dag_run) == {
        ("failing", -1): "failed",
        ("later", -1): "success",
        ("fixable", -1): "success",
        ("hopeless", -1): "failed",
        ("by_name", -1): "success",
    }
    tis = _tis(dag_run)
    # A failed sync fails the task at once, with Fivetran's status task: no retry, one request.
    assert tis["failing"].try_number == 1
    assert _count(sim, "POST", "failing", "/sync") == 1
    # Rescheduled by Fivetran: waited for (it starts at rescheduled_for by itself), not re-requested.
    assert _count(sim, "POST", "later", "/sync") == 1
    later = xcom(dag_run, "later")
    assert later["sync"]["status"] == "succeeded" and later["status"]["sync_state"] == "scheduled"
    # Broken, recovered: setup tests, then the sync. Still broken: setup tests, and nothing else.
    assert [r.path for r in sim.requests if r.method == "POST" and "/fixable" in r.path] == [
        "/v1/connections/fixable/test",
        "/v1/connections/fixable/sync",
    ]
    assert [r.path for r in sim.requests if r.method == "POST" and "/hopeless" in r.path] == [
        "/v1/connections/hopeless/test"
    ]
    # By name: one filtered listing of the group, then the sync of the connection found.
    assert [(r.path, r.query.get("schema")) for r in sim.requests if "groups" in r.path] == [
        ("/v1/groups/eu/connections", "sales")
    ]
    assert _count(sim, "POST", "by_name_eu", "/sync") == 1
    assert _count(sim, "POST", "by_name_us", "/sync") == 0
    assert xcom(dag_run, "by_name", key="fivetran_connection_id") == "by_name_eu"
    assert xcom(dag_run, "by_name")["id"] == "by_name_eu"
    assert xcom(dag_run, "by_name", key=DASHBOARD_URL_XCOM_KEY).endswith("/connections/by_name_eu/status")

    logs = logged(caplog, capfd)
    assert "A sync of Fivetran connection 'failing' failed at" in logs
    assert "resolve_sync_failure: Sync failed" in logs
    assert "Fivetran rescheduled the sync of connection 'later'" in logs
    assert "'hopeless' is still broken after its setup tests" in logs
    assert "Validating credentials: Authentication failed" in logs
    assert "Fivetran connection named 'sales' in group 'eu' is 'by_name_eu'" in logs


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_resync_of_some_tables(sim: FivetranSimulator, deferrable: bool) -> None:
    sim.add_connection("tables")
    with new_dag("resync") as dag:
        FivetranResyncConnectionOperator(
            task_id="tables",
            connection_id="tables",
            scope="{{ params.scope | tojson }}",
            params={"scope": {"public": ["orders", "users"]}},
            deferrable=deferrable,
            poll_interval=BETWEEN_POLLS,
            timeout=60,
            **FAST_RETRIES,
        )
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {("tables", -1): "success"}
    assert [r.json for r in sim.requests if r.path == "/v1/connections/tables/resync"] == [
        {"scope": {"public": ["orders", "users"]}}
    ]
    assert (_count(sim, "GET", "tables"), _count(sim, "POST", "tables", "/resync")) == (2, 1)
    assert xcom(dag_run, "tables")["sync"]["status"] == "succeeded"


def test_invalid_rendered_scope_fails_before_any_request(sim: FivetranSimulator) -> None:
    sim.add_connection("tables")
    with new_dag("resync_bad_scope") as dag:
        FivetranResyncConnectionOperator(
            task_id="bad",
            connection_id="tables",
            scope="{{ params.scope | tojson }}",
            params={"scope": {"s": []}},
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {("bad", -1): "failed"}
    assert sim.request_count() == 0
