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

from airflow_provider_fivetran_update._compat import DAG, AirflowSkipException, Param, task
from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.maintenance import (
    FivetranResumeStrandedOperator,
    fivetran_maintenance_window,
    parse_connection_ids,
)
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import all_xcoms, run_dag, task_states, unique_dag_id, xcom

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


def _paused_flags(patches: list[Any]) -> list[Any]:
    """The ``paused`` value of each PATCH body (other fields may join the body; they do not matter)."""
    return [body.get("paused") for body in patches]


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
    return json.dumps(all_xcoms(dag_run), default=str)


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
        "window.restored",
        "after",
    }
    record, pause, restore = tasks["window.record"], tasks["window.pause"], tasks["window.restore"]
    # record is a setup too, so the restore runs when every pause failed; the teardown itself
    # does not judge the run (the work does), the empty "restored" leaf fails it for a failed restore.
    assert record.is_setup and pause.is_setup and restore.is_teardown
    assert not restore.on_failure_fail_dagrun
    assert tasks["window.first"].upstream_task_ids == {"window.wait_paused"}
    assert tasks["window.second"].upstream_task_ids == {"window.first"}
    assert tasks["window.second"].downstream_task_ids == {"window.restore", "after"}
    assert restore.upstream_task_ids == {"window.record", "window.pause", "window.second"}
    assert tasks["window.restored"].upstream_task_ids == {"window.restore"}
    # Downstream of the window means after the restore too (a plain group would skip teardowns).
    assert tasks["after"].upstream_task_ids == {"window.second", "window.restored"}
    # The window adds a run failure callback (dagrun_timeout skips teardowns) and keeps the user's.
    assert dag.on_failure_callback is not None and len(dag.on_failure_callback) == 1


def test_the_run_failure_callback_keeps_the_users_own() -> None:
    def mine(context: Any) -> None: ...

    def build() -> None:
        @task
        def work() -> None: ...

        with fivetran_maintenance_window(["a"]):
            work()

    dag = _dag("callbacks", build, on_failure_callback=mine)
    assert isinstance(dag.on_failure_callback, list) and dag.on_failure_callback[0] is mine
    assert len(dag.on_failure_callback) == 2


def test_hook_options_reach_every_step_and_are_checked_when_parsed() -> None:
    def build() -> None:
        @task
        def work() -> None: ...

        with fivetran_maintenance_window(
            ["a"], request_timeout=7, max_retries=1, retry_min_wait=0.5, retry_max_wait=2
        ):
            work()

    dag = _dag("hook_options", build)
    record = dag.task_dict[f"{G}.record"]
    assert (record.request_timeout, record.max_retries, record.retry_min_wait, record.retry_max_wait) == (
        7.0,
        1,
        0.5,
        2.0,
    )
    for name in ("pause", "wait_paused", "restore"):
        partial = dag.task_dict[f"{G}.{name}"].partial_kwargs
        assert (partial["request_timeout"], partial["max_retries"]) == (7.0, 1), name
        assert (partial["retry_min_wait"], partial["retry_max_wait"]) == (0.5, 2.0), name
    with pytest.raises(ValueError, match="max_retries must be an integer >= 0"):
        _dag("bad_option", lambda: fivetran_maintenance_window(["a"], max_retries=-1).__enter__())


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
    assert _paused_flags(_patches(sim, "pg_running")) == [True, False]
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
    assert _paused_flags(_patches(sim, "pg_a")) == [True, False]
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
    assert _paused_flags(_patches(sim, "pg_a")) == [True, True, False]
    assert _count(sim, "GET", "pg_a") == 1
    assert sim.connection("pg_a")["paused"] is False


# -- failures: the promise is that every connection running before runs again after ----------------

# Fast, bounded retries: a request the simulator spoils is tried twice.
FAST = {"poll_interval": 0.5, "timeout": 60, "max_retries": 1, "retry_min_wait": 0.1, "retry_max_wait": 0.2}


def _entry(connection_id: str, conn_id: str = "fivetran_default") -> Any:
    from airflow.models.variable import Variable

    return Variable.get(f"fivetran_maintenance:{conn_id}:{connection_id}", default_var=None)


def _assert_restored(sim: FivetranSimulator, connection_id: str, paused: list[bool], gets: int = 1) -> None:
    """Running again, its entry gone, after exactly these PATCHes (by ``paused``) and GETs."""
    assert _paused_flags(_patches(sim, connection_id)) == paused
    assert _count(sim, "GET", connection_id) == gets
    assert sim.connection(connection_id)["paused"] is False
    assert _entry(connection_id) is None


def _window_dag(name: str, ids: list[str], work: Callable[[], None] | None = None, **window: Any) -> DAG:
    def build() -> None:
        @task
        def the_work() -> None:
            if work is not None:
                work()

        with fivetran_maintenance_window(ids, **{**FAST, **window}):
            the_work()

    return _dag(name, build)


def _ti(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    return next(
        ti for ti in dag_run.get_task_instances() if ti.task_id == task_id and ti.map_index == map_index
    )


@pytest.mark.parametrize("spoiled", [{"drop": True}, {"malformed": True}], ids=["answer_lost", "garbled_200"])
def test_pause_applied_but_every_answer_spoiled_one_connection(
    sim: FivetranSimulator, spoiled: dict[str, bool]
) -> None:
    sim.add_connection("pg_a")
    # Every try of the pause reaches Fivetran (the connection is paused), no answer comes back.
    # A garbled 200 is not retried (it is not Fivetran's answer): one try; a lost answer: two.
    tries = 2 if "drop" in spoiled else 1
    sim.fail_next(tries, after_apply=True, method="PATCH", path="/v1/connections/pg_a", **spoiled)

    dag_run = run_dag(_window_dag("pause_spoiled", ["pg_a"]))

    assert dag_run.state == "failed"  # the work never ran: the pause failed
    states = task_states(dag_run)
    assert states[(f"{G}.pause", 0)] == "failed"
    assert states[(f"{G}.the_work", -1)] == "upstream_failed"
    assert states[(f"{G}.restore", 0)] == "success"
    _assert_restored(sim, "pg_a", [True] * tries + [False])


def test_pause_answer_lost_for_one_of_two_connections(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_a")
    sim.add_connection("pg_b")
    sim.fail_next(2, after_apply=True, drop=True, method="PATCH", path="/v1/connections/pg_a")

    dag_run = run_dag(_window_dag("pause_lost_one_of_two", ["pg_a", "pg_b"]))

    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert (states[(f"{G}.pause", 0)], states[(f"{G}.pause", 1)]) == ("failed", "success")
    assert states[(f"{G}.restore", 0)] == states[(f"{G}.restore", 1)] == "success"
    _assert_restored(sim, "pg_a", [True, True, False])
    _assert_restored(sim, "pg_b", [True, False])


def test_pause_task_exits_its_process_after_the_patch(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_a")

    def exit_after_pause(context: Any, result: Any) -> None:
        # The PATCH went out and was answered; the task's process exits before anything else of
        # the task runs (under dag.test the task runner turns the exit into a failed try; the
        # deployment test SIGKILLs a real worker).
        if context["ti"].task_id == f"{G}.pause":
            raise SystemExit(1)

    def build() -> None:
        @task
        def work() -> None: ...

        with fivetran_maintenance_window(["pg_a"], **FAST):
            work()

    dag_run = run_dag(_dag("pause_exits", build, default_args={"post_execute": exit_after_pause}))

    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states[(f"{G}.pause", 0)] == "failed" and states[(f"{G}.restore", 0)] == "success"
    _assert_restored(sim, "pg_a", [True, False])


def test_every_pause_fails_before_reaching_fivetran(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_a")
    sim.add_connection("pg_b")
    sim.add_connection("pg_paused", paused=True)
    sim.fail_next(4, status=503, method="PATCH")  # two tries for each running connection

    dag_run = run_dag(_window_dag("all_pauses_fail", ["pg_a", "pg_b", "pg_paused"]))

    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert (states[(f"{G}.pause", 0)], states[(f"{G}.pause", 1)]) == ("failed", "failed")
    assert all(states[(f"{G}.restore", i)] == "success" for i in range(3))
    # A connection that was never paused costs one resume request, which changes nothing.
    for connection_id in ("pg_a", "pg_b"):
        _assert_restored(sim, connection_id, [True, True, False])
    assert _count(sim, "PATCH", "pg_paused") == 0 and sim.connection("pg_paused")["paused"] is True
    assert sim.request_count(method="GET") == 3


def test_a_failed_restore_fails_the_run_and_the_run_callback_resumes(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.add_connection("pg_a")

    def refuse_the_resume() -> None:
        sim.fail_next(1, status=403, method="PATCH", path="/v1/connections/pg_a")

    dag = _window_dag("restore_fails", ["pg_a"], work=refuse_the_resume)
    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    # Judged from the DAG Airflow stored (run_dag serializes it first; dag.test runs from it).
    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states[(f"{G}.the_work", -1)] == "success"
    assert states[(f"{G}.restore", 0)] == "failed"
    assert states[(f"{G}.restored", -1)] == "upstream_failed"
    # The run's failure callback found the connection still held and resumed it.
    assert _paused_flags(_patches(sim, "pg_a")) == [True, False, False]
    assert sim.connection("pg_a")["paused"] is False
    assert "resumed Fivetran connection 'pg_a'" in caplog.text
    # Its entry stays (a pause of a timed-out run may still be in flight) until the next window
    # run or the recovery command sees the connection running: then it goes without a request.
    assert json.loads(_entry("pg_a"))["run_id"] == dag_run.run_id
    sim.clear_requests()
    with DAG(unique_dag_id("cleanup"), schedule=None, start_date=datetime(2025, 1, 1)) as cleanup:
        FivetranResumeStrandedOperator(task_id="resume_stranded", connection_ids=["pg_a"], resume=True)
    [found] = xcom(run_dag(cleanup), "resume_stranded")
    assert (found["stranded"], found["paused"]) == (False, False)
    assert _entry("pg_a") is None
    assert _count(sim, "GET", "pg_a") == 1 and sim.request_count(method="PATCH") == 0


def test_the_serialized_dag_fails_the_run_for_a_failed_restore_and_keeps_the_work_as_judge() -> None:
    from tests.airflow_helpers import serialized_copy

    def build() -> None:
        @task
        def work() -> None: ...

        with fivetran_maintenance_window(["a"]):
            work()

    stored = serialized_copy(_dag("serialized", build))
    restore, restored = stored.task_dict[f"{G}.restore"], stored.task_dict[f"{G}.restored"]
    assert restore.is_teardown and not restore.on_failure_fail_dagrun  # the work judges the run ...
    assert not restored.is_teardown and restored.upstream_task_ids == {f"{G}.restore"}  # ... and this
    assert stored.task_dict[f"{G}.record"].is_setup and stored.has_on_failure_callback


def _strand(sim: FivetranSimulator, connection_id: str) -> Any:
    """A run whose restore and failure callback both fail: the connection stays paused and held."""

    def refuse_every_resume() -> None:
        sim.fail_next(2, status=403, method="PATCH", path=f"/v1/connections/{connection_id}")

    dag_run = run_dag(_window_dag("strand", [connection_id], work=refuse_every_resume))
    assert dag_run.state == "failed"
    assert sim.connection(connection_id)["paused"] is True
    assert json.loads(_entry(connection_id))["run_id"] == dag_run.run_id
    return dag_run


def test_the_next_run_heals_a_connection_stranded_by_the_previous_one(
    sim: FivetranSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.add_connection("pg_a")
    first = _strand(sim, "pg_a")
    sim.clear_requests()
    capfd.readouterr()

    dag_run = run_dag(_window_dag("heal", ["pg_a"]))

    assert dag_run.state == "success"
    task_log = capfd.readouterr().out  # dag.test writes the task logs to stdout
    assert "STRANDED Fivetran connection 'pg_a'" in task_log and first.run_id in task_log
    assert xcom(dag_run, f"{G}.record")[0]["paused"] is False  # counted as running before
    _assert_restored(sim, "pg_a", [True, False])


def test_clearing_record_mid_window_still_restores(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_a")

    def clear_record() -> None:
        from airflow.models.taskinstance import TaskInstance, clear_task_instances
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            record = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.task_id == f"{G}.record", TaskInstance.dag_id == dag.dag_id
                )
            ).one()
            clear_task_instances([record], session)

    dag = _window_dag("clear_record", ["pg_a"], work=clear_record)
    dag_run = run_dag(dag)

    assert dag_run.state == "success"
    assert _ti(dag_run, f"{G}.record").try_number == 2
    # The second record found the connection paused, and the durable record said by whom.
    assert xcom(dag_run, f"{G}.record")[0]["paused"] is False
    assert _count(sim, "GET", "pg_a") == 2
    assert _paused_flags(_patches(sim, "pg_a")) == [True, False]
    assert sim.connection("pg_a")["paused"] is False
    assert _entry("pg_a") is None


def test_recovery_operator_lists_then_resumes_a_stranded_connection(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_a")
    sim.add_connection("pg_other_paused", paused=True)  # paused, but not by a window
    first = _strand(sim, "pg_a")
    sim.clear_requests()

    def recovery(resume: bool) -> Any:
        with DAG(unique_dag_id("recovery"), schedule=None, start_date=datetime(2025, 1, 1)) as dag:
            FivetranResumeStrandedOperator(task_id="resume_stranded", resume=resume)
        return run_dag(dag)

    listed = recovery(resume=False)
    assert listed.state == "success"
    [found] = xcom(listed, "resume_stranded")
    assert found["connection_id"] == "pg_a" and found["stranded"] is True
    assert found["run_id"] == first.run_id and found["paused"] is True
    assert sim.request_count(method="PATCH") == 0  # a dry run by default
    assert sim.request_count(method="GET", path="/v1/connections") == 1  # one page lists them all

    resumed = recovery(resume=True)
    assert resumed.state == "success"
    assert _paused_flags(_patches(sim, "pg_a")) == [False]
    assert sim.request_count(method="PATCH") == 1
    assert sim.connection("pg_a")["paused"] is False and sim.connection("pg_other_paused")["paused"] is True
    assert _entry("pg_a") is None


def test_recovery_command_lists_dry_runs_and_applies(sim: FivetranSimulator) -> None:
    import subprocess
    import sys

    sim.add_connection("pg_a")
    _strand(sim, "pg_a")
    sim.clear_requests()

    def command(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow_provider_fivetran_update.maintenance", *args],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert sim.api_secret not in result.stdout + result.stderr
        return result.stdout

    assert "pg_a: STRANDED" in command("--list-stranded")
    assert "Dry run: would resume 1 connection(s)" in command("--resume-stranded")
    assert sim.request_count(method="PATCH") == 0
    assert "pg_a: resumed (sync_state=scheduled); entry removed" in command("--resume-stranded", "--apply")
    assert _paused_flags(_patches(sim, "pg_a")) == [False]
    assert sim.connection("pg_a")["paused"] is False and _entry("pg_a") is None
    assert "No connection is held" in command("--list-stranded")
