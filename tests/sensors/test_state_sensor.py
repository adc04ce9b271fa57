"""FivetranConnectionStateSensor under real Airflow (``dag.test()``) against the simulator over HTTP.

Each DAG runs in this process: Airflow's in-process execution API, a real task runner, real XComs in
the test SQLite database, and for deferrable tasks the trigger run inline by ``dag.test()``. Nothing
of the provider is mocked; the only stand-in is the simulated Fivetran API.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_fivetran_update._compat import DAG, TaskDeferred
from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.operators.fivetran import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    FivetranUpdateConnectionOperator,
    connection_dashboard_url,
)
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor
from airflow_provider_fivetran_update.testing import FivetranSimulator
from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger
from airflow_provider_fivetran_update.waiting import DEFERRED_TRY_XCOM_KEY
from tests.airflow_helpers import reschedule_count, run_dag, unique_dag_id, xcom
from tests.helpers import TRIGGERER_NOISE

pytestmark = pytest.mark.airflow

STATE_KEYS = {
    "connection_id",
    "service",
    "paused",
    "setup_state",
    "sync_state",
    "update_state",
    "is_historical_sync",
    "rescheduled_for",
    "succeeded_at",
    "failed_at",
}
SOURCE_PASSWORD = "source-db-password-71"  # a secret inside the connection's config
INLINE_TRIGGER_LOG = "[DAG TEST] running trigger in line"


def _dag_id(name: str) -> str:
    return unique_dag_id(f"fivetran_sensor_{name}")


def _ti(dag_run: Any, task_id: str) -> Any:
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti


def _reschedule_count(ti: Any) -> int:
    return reschedule_count(ti)


def _sensor_dag(name: str, **sensor_kwargs: Any) -> DAG:
    with DAG(_dag_id(name), schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
        FivetranConnectionStateSensor(task_id="wait", **sensor_kwargs)
    return dag


def _gets(sim: FivetranSimulator, connection_id: str) -> int:
    return sim.request_count(method="GET", path=f"/v1/connections/{connection_id}")


def _after_first_get(sim: FivetranSimulator, connection_id: str, **status: Any) -> threading.Thread:
    """Change the connection's status once the sensor has seen it at least once (not ready)."""

    def change() -> None:
        deadline = time.monotonic() + 180
        while _gets(sim, connection_id) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        sim.set_status(connection_id, **status)

    thread = threading.Thread(target=change, daemon=True)
    thread.start()
    return thread


def _break_with_failed_setup_tests(sim: FivetranSimulator, connection_id: str) -> None:
    """A connection whose setup tests fail: added as broken, then updated so Fivetran re-tests it."""
    sim.add_connection(connection_id, broken=True, config={"host": "db", "password": SOURCE_PASSWORD})
    FivetranHook(retry_min_wait=0.01).update_connection(connection_id, config={"password": SOURCE_PASSWORD})
    assert sim.connection(connection_id)["status"]["setup_state"] == "broken"


def _assert_no_secret(sim: FivetranSimulator, *texts: str) -> None:
    for text in texts:
        assert sim.api_secret not in text
        assert SOURCE_PASSWORD not in text


# -- poke mode ------------------------------------------------------------------------------------


def test_poke_mode_waits_until_the_state_is_reached(
    sim: FivetranSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.add_connection("pg_orders", setup_state="incomplete", config={"password": SOURCE_PASSWORD})
    changer = _after_first_get(sim, "pg_orders", setup_state="connected")
    dag = _sensor_dag("poke", connection_id="pg_orders", poke_interval=0.5, timeout=120, deferrable=False)

    dag_run = run_dag(dag)
    changer.join(5)

    assert _ti(dag_run, "wait").state == "success"
    assert _gets(sim, "pg_orders") >= 2
    result = xcom(dag_run, "wait")
    assert set(result) == STATE_KEYS
    assert result["connection_id"] == "pg_orders"
    assert result["setup_state"] == "connected"
    assert xcom(dag_run, "wait", DASHBOARD_URL_XCOM_KEY) == connection_dashboard_url("pg_orders")
    output = capfd.readouterr()
    logs = output.out + output.err
    # Each poke says what it saw and what it waits for.
    assert "setup_state='incomplete' (expected 'connected')" in logs
    assert "Fivetran connection 'pg_orders' is ready" in logs
    _assert_no_secret(sim, logs, json.dumps(result))


def test_poke_mode_templated_states_and_comma_separated_string(sim: FivetranSimulator) -> None:
    sim.add_connection("sf_crm", paused=True)
    with DAG(
        _dag_id("templated"),
        schedule=None,
        start_date=datetime(2025, 1, 1),
        params={"connection_id": "sf_crm", "sync_states": "scheduled, paused"},
    ) as dag:
        FivetranConnectionStateSensor(
            task_id="wait",
            connection_id="{{ params.connection_id }}",
            expected_setup_state=None,
            expected_sync_state="{{ params.sync_states }}",
            poke_interval=0.5,
            timeout=60,
        )

    dag_run = run_dag(dag)

    assert _ti(dag_run, "wait").state == "success"
    assert xcom(dag_run, "wait")["sync_state"] == "paused"
    assert _gets(sim, "sf_crm") == 1


def test_unknown_templated_state_fails_before_any_request(sim: FivetranSimulator) -> None:
    sim.add_connection("pg_typo")
    dag = _sensor_dag(
        "typo",
        connection_id="pg_typo",
        expected_sync_state="{{ 'synching' }}",
        poke_interval=0.5,
        timeout=60,
    )

    dag_run = run_dag(dag)

    assert _ti(dag_run, "wait").state == "failed"
    assert _gets(sim, "pg_typo") == 0


def test_unknown_literal_state_fails_when_the_dag_is_parsed() -> None:
    with pytest.raises(FivetranValidationError) as error:
        FivetranConnectionStateSensor(task_id="wait", connection_id="c", expected_setup_state="conected")
    message = str(error.value)
    assert "expected_setup_state" in message
    assert "'conected'" in message
    assert "'incomplete', 'connected', 'broken'" in message
    with pytest.raises(FivetranValidationError, match="expected_sync_state"):
        FivetranConnectionStateSensor(
            task_id="wait", connection_id="c", expected_sync_state=["syncing", "done"]
        )


def test_sensor_declares_templates_and_the_dashboard_link() -> None:
    sensor = FivetranConnectionStateSensor(task_id="wait", connection_id="c")
    assert {"connection_id", "expected_setup_state", "expected_sync_state"} <= set(sensor.template_fields)
    assert any(isinstance(link, FivetranConnectionLink) for link in sensor.operator_extra_links)
    assert sensor.expected_setup_state == "connected"
    assert sensor.expected_sync_state is None
    assert sensor.fail_on_broken is True


# -- reschedule mode ------------------------------------------------------------------------------


def test_reschedule_mode_frees_the_slot_between_pokes(sim: FivetranSimulator) -> None:
    sim.add_connection("mysql_shop", setup_state="incomplete")
    changer = _after_first_get(sim, "mysql_shop", setup_state="connected", sync_state="syncing")
    dag = _sensor_dag(
        "reschedule",
        connection_id="mysql_shop",
        expected_sync_state=["syncing", "scheduled"],
        mode="reschedule",
        poke_interval=1,
        timeout=120,
    )

    dag_run = run_dag(dag)
    changer.join(5)

    ti = _ti(dag_run, "wait")
    assert ti.state == "success"
    assert ti.try_number == 1  # rescheduling is not a retry
    assert _reschedule_count(ti) >= 1  # the task really left the worker between pokes
    assert _gets(sim, "mysql_shop") == _reschedule_count(ti) + 1
    result = xcom(dag_run, "wait")
    assert set(result) == STATE_KEYS
    assert (result["setup_state"], result["sync_state"]) == ("connected", "syncing")


# -- deferrable -----------------------------------------------------------------------------------


# Long enough that the sync is still running when the sensor first pokes, even where dag.test()
# takes seconds to start the next task (Airflow 3.1).
@pytest.mark.parametrize("fivetran_simulator_options", [{"historical_sync_seconds": 8.0}])
def test_deferrable_waits_in_the_trigger_for_a_historical_resync(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.add_connection("pg_resync", config={"password": SOURCE_PASSWORD})
    with DAG(_dag_id("deferrable"), schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        resync = FivetranUpdateConnectionOperator(
            task_id="resync", connection_id="pg_resync", is_historical_sync=True
        )
        wait = FivetranConnectionStateSensor(
            task_id="wait",
            connection_id="pg_resync",
            expected_sync_state="scheduled",
            deferrable=True,
            poke_interval=0.5,
            timeout=120,
        )
        resync >> wait

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    assert _ti(dag_run, "wait").state == "success"
    assert INLINE_TRIGGER_LOG in caplog.text  # the task deferred and its trigger ran
    # The first poke (worker) saw the sync running; the trigger polled until it ended, and its
    # first read waited one poke interval instead of repeating the poke's read at once.
    gets = [r for r in sim.requests if r.method == "GET" and r.path == "/v1/connections/pg_resync"]
    assert len(gets) >= 2
    assert gets[1].time - gets[0].time >= 0.45
    result = xcom(dag_run, "wait")
    assert set(result) == STATE_KEYS  # the same shape as from a poke
    assert result["sync_state"] == "scheduled"
    assert result["is_historical_sync"] is False
    assert result["succeeded_at"] is not None
    assert xcom(dag_run, "wait", DASHBOARD_URL_XCOM_KEY) == connection_dashboard_url("pg_resync")
    output = capfd.readouterr()
    _assert_no_secret(sim, output.out + output.err, caplog.text, json.dumps(result))


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_deferred_wait_under_dag_test_leaves_the_triggerer_quiet(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.add_connection("pg_quiet", setup_state="incomplete")
    changer = _after_first_get(sim, "pg_quiet", setup_state="connected")
    dag = _sensor_dag("quiet", connection_id="pg_quiet", deferrable=True, poke_interval=0.5, timeout=60)

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)
        gc.collect()  # a generator dropped mid-cleanup reports here
    changer.join(5)

    assert _ti(dag_run, "wait").state == "success"
    assert INLINE_TRIGGER_LOG in caplog.text
    output = capfd.readouterr()
    logs = caplog.text + output.out + output.err
    assert [line for line in logs.splitlines() if any(text in line for text in TRIGGERER_NOISE)] == []


def test_deferrable_already_satisfied_reads_once_and_never_defers(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.add_connection("pg_ready")
    dag = _sensor_dag("ready", connection_id="pg_ready", deferrable=True, poke_interval=0.5, timeout=60)

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    assert _ti(dag_run, "wait").state == "success"
    assert _gets(sim, "pg_ready") == 1
    assert INLINE_TRIGGER_LOG not in caplog.text
    result = xcom(dag_run, "wait")
    assert set(result) == STATE_KEYS
    assert result["setup_state"] == "connected"


@pytest.mark.parametrize("soft_fail", [False, True], ids=["fails", "soft_fail-skips"])
def test_timeout_while_deferred(
    sim: FivetranSimulator, soft_fail: bool, caplog: pytest.LogCaptureFixture
) -> None:
    sim.add_connection("pg_stuck", setup_state="incomplete")
    dag = _sensor_dag(
        "deferred_timeout",
        connection_id="pg_stuck",
        deferrable=True,
        poke_interval=0.5,
        timeout=2,
        soft_fail=soft_fail,
        retries=2,
    )

    with caplog.at_level("INFO"):
        dag_run = run_dag(dag)

    ti = _ti(dag_run, "wait")
    assert INLINE_TRIGGER_LOG in caplog.text
    assert ti.state == ("skipped" if soft_fail else "failed")
    assert ti.try_number == 1  # a sensor timeout is final: no retry
    # One poke on the worker, then the trigger until end_time (~2 s at 0.5 s): never much more.
    assert 3 <= _gets(sim, "pg_stuck") <= 8


# -- deadlines hold under retries -----------------------------------------------------------------


def _rate_limit_storm(sim: FivetranSimulator, retry_after: str = "4") -> None:
    """Every GET answered 429 with ``Retry-After`` from now on (the storm outlasts any test)."""
    sim.fail_next(500, status=429, headers={"Retry-After": retry_after}, method="GET")


def _storm_after_first_get(sim: FivetranSimulator, connection_id: str) -> threading.Thread:
    def start() -> None:
        deadline = time.monotonic() + 180
        while _gets(sim, connection_id) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        _rate_limit_storm(sim)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_a_rate_limit_storm_ends_as_a_sensor_timeout_by_the_deadline(
    sim: FivetranSimulator, mode: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """timeout=3 under 429s asking for 4 s: AirflowSensorTimeout, not a retryable API error 20 s later."""
    sim.add_connection("pg_storm", setup_state="incomplete")
    if mode == "deferrable":
        # The first poke (worker) reads; the storm hits the trigger's reads.
        storm = _storm_after_first_get(sim, "pg_storm")
    else:
        _rate_limit_storm(sim)
    dag = _sensor_dag(
        f"storm_{mode}",
        connection_id="pg_storm",
        mode="reschedule" if mode == "reschedule" else "poke",
        deferrable=mode == "deferrable",
        poke_interval=0.5,
        timeout=3,
        request_timeout=5,
        retry_max_wait=60,
        retries=2,
    )

    dag_run = run_dag(dag)
    if mode == "deferrable":
        storm.join(5)

    ti = _ti(dag_run, "wait")
    assert ti.state == "failed"
    assert ti.try_number == 1  # a sensor timeout is final; an API error would have been retried
    statuses = [r.status for r in sim.requests if r.path == "/v1/connections/pg_storm"]
    assert statuses == ([200, 429] if mode == "deferrable" else [429])  # no blind retries
    # The deadline plus one request timeout, with room for a loaded machine (it took 21 s).
    if ti.start_date is not None:  # Airflow 2.11's dag.test() does not record it
        assert (ti.end_date - ti.start_date).total_seconds() < 3 + 5 + 5
    output = capfd.readouterr()
    logs = output.out + output.err
    assert "AirflowSensorTimeout" in logs
    assert "Fivetran asked to wait 4 s before the next request (Retry-After)" in logs
    _assert_no_secret(sim, logs)


# -- broken connections ---------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_broken_connection_fails_at_once_without_retry(
    sim: FivetranSimulator, deferrable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    _break_with_failed_setup_tests(sim, "pg_broken")
    dag = _sensor_dag(
        "broken",
        connection_id="pg_broken",
        deferrable=deferrable,
        poke_interval=60,
        timeout=600,
        retries=2,
    )

    dag_run = run_dag(dag)

    ti = _ti(dag_run, "wait")
    assert ti.state == "failed"
    assert ti.try_number == 1  # AirflowFailException: retries are not used
    # One read: no second poke, and no trigger (whose first read would come a poke_interval later).
    assert _gets(sim, "pg_broken") == 1
    output = capfd.readouterr()
    logs = output.out + output.err
    assert "AirflowFailException" in logs
    assert "Fivetran connection 'pg_broken' is broken" in logs
    assert "Validating credentials: Authentication failed" in logs  # the FAILED setup test
    assert "setup_tests_failed: Setup tests failed" in logs  # the status warning
    _assert_no_secret(sim, logs)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_broken_connection_with_soft_fail_is_skipped(sim: FivetranSimulator, deferrable: bool) -> None:
    _break_with_failed_setup_tests(sim, "pg_broken_soft")
    dag = _sensor_dag(
        "broken_soft",
        connection_id="pg_broken_soft",
        deferrable=deferrable,
        soft_fail=True,
        poke_interval=60,
        timeout=600,
    )

    dag_run = run_dag(dag)

    assert _ti(dag_run, "wait").state == "skipped"
    assert _gets(sim, "pg_broken_soft") == 1  # one read: neither a second poke nor a trigger


def test_broken_while_deferred_fails_the_task(
    sim: FivetranSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    sim.add_connection("pg_breaks_later", setup_state="incomplete")
    changer = _after_first_get(
        sim,
        "pg_breaks_later",
        setup_state="broken",
        warnings=[{"code": "setup_tests_failed", "message": "Setup tests failed"}],
    )
    dag = _sensor_dag(
        "broken_deferred",
        connection_id="pg_breaks_later",
        deferrable=True,
        poke_interval=0.5,
        timeout=120,
        retries=2,
    )

    dag_run = run_dag(dag)
    changer.join(5)

    ti = _ti(dag_run, "wait")
    assert ti.state == "failed"
    assert ti.try_number == 1
    output = capfd.readouterr()
    assert "Fivetran connection 'pg_breaks_later' is broken" in output.out + output.err


def test_broken_is_accepted_when_expected(sim: FivetranSimulator) -> None:
    _break_with_failed_setup_tests(sim, "pg_expected_broken")
    dag = _sensor_dag(
        "expected_broken",
        connection_id="pg_expected_broken",
        expected_setup_state=["broken"],
        poke_interval=0.5,
        timeout=60,
    )

    dag_run = run_dag(dag)

    assert _ti(dag_run, "wait").state == "success"
    assert xcom(dag_run, "wait")["setup_state"] == "broken"


# -- the sensor hands the trigger what it needs -----------------------------------------------------


def test_trigger_gets_an_absolute_end_time_from_the_sensor_timeout(sim: FivetranSimulator) -> None:
    """What the sensor defers with, read from the TaskDeferred it raises (no Airflow run needed)."""
    sim.add_connection("pg_deadline", setup_state="incomplete")
    sensor = FivetranConnectionStateSensor(
        task_id="wait",
        connection_id="pg_deadline",
        expected_sync_state={"syncing", "scheduled"},
        deferrable=True,
        poke_interval=7,
        timeout=300,
        request_timeout=12,
        max_retries=3,
    )

    pushed: list[tuple[str, Any]] = []

    class _PushOnlyTI:  # execute() only pushes the link's URL, and the deferring try, before poking
        def xcom_push(self, key: str, value: Any) -> None:
            pushed.append((key, value))

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": _PushOnlyTI()})  # type: ignore[typeddict-item]
    assert pushed == [
        (DASHBOARD_URL_XCOM_KEY, connection_dashboard_url("pg_deadline")),
        (DEFERRED_TRY_XCOM_KEY, 1),
    ]
    trigger = deferred.value.trigger
    assert isinstance(trigger, FivetranConnectionStateTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert before + 300 <= trigger.end_time <= time.time() + 300
    assert trigger.poll_interval == 7
    assert trigger.expected_setup_state == ["connected"]
    assert trigger.expected_sync_state == ["scheduled", "syncing"]
    assert trigger.options.request_timeout == 12
    assert trigger.options.max_retries == 3


_Complete = Callable[..., Any]


@pytest.fixture
def execute_complete() -> Iterator[_Complete]:
    sensor = FivetranConnectionStateSensor(task_id="wait", connection_id="c", deferrable=True)

    class _ResumedTI:  # the try that deferred resumes: its XCom holds its own number
        task_id, map_index, try_number = "wait", -1, 1

        def xcom_pull(self, **kwargs: Any) -> int:
            assert kwargs == {"task_ids": "wait", "key": DEFERRED_TRY_XCOM_KEY, "map_indexes": -1}
            return 1

    yield lambda event: sensor.execute_complete({"ti": _ResumedTI()}, event)  # type: ignore[typeddict-item]


def test_execute_complete_maps_every_event_status(execute_complete: _Complete) -> None:
    from airflow_provider_fivetran_update._compat import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
    )

    state = {"connection_id": "c", "setup_state": "connected"}
    assert execute_complete({"status": "success", "message": "ok", "state": state}) == state
    with pytest.raises(AirflowSensorTimeout, match="too slow"):
        execute_complete({"status": "timeout", "message": "too slow", "state": state})
    with pytest.raises(AirflowFailException, match="is broken"):
        execute_complete({"status": "failed", "message": "c is broken", "state": state})
    with pytest.raises(AirflowException, match="503"):
        execute_complete({"status": "error", "message": "answered 503", "state": None})
    with pytest.raises(AirflowException, match="without an event"):
        execute_complete(None)
