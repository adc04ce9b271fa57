"""The one wait (waiting.py) on its own: its condition, its progress between reads, and how its end
becomes a task's result. Time is a clock the test moves; reads are answers the test hands in, as
GET /v1/connections/{id} gives them. Over HTTP and under Airflow, the sensor, trigger and operator
tests run the same code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_fivetran_update._compat import AirflowFailException, AirflowSensorTimeout
from airflow_provider_fivetran_update.api import RetryableAPIError
from airflow_provider_fivetran_update.exceptions import (
    FivetranAPIError,
    FivetranError,
    FivetranRateLimitError,
    FivetranRetryLaterError,
    FivetranValidationError,
)
from airflow_provider_fivetran_update.hooks.options import HookOptions
from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger
from airflow_provider_fivetran_update.waiting import (
    Wait,
    WaitCondition,
    WaitResult,
    read_once,
    run_wait,
    settle,
    trigger_for,
)


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def _connection(setup_state: str = "incomplete", sync_state: str = "scheduled") -> dict[str, Any]:
    return {"id": "c", "status": {"setup_state": setup_state, "sync_state": sync_state}}


def _rate_limited(retry_after: float) -> FivetranRateLimitError:
    return FivetranRateLimitError(
        retry_after=retry_after,
        status_code=429,
        code="TooManyRequests",
        message="slow down",
        connection_id="c",
    )


def _wait(clock: Clock, *, deadline: float = 10.0, patient: bool = False, **kwargs: Any) -> Wait:
    return Wait(
        "c",
        WaitCondition.state(),
        deadline=clock.now + deadline,
        poll_interval=kwargs.pop("poll_interval", 3.0),
        patient=patient,
        clock=clock,
        **kwargs,
    )


class Reads:
    """Answers handed to the wait one per read, with the moment each read was made."""

    def __init__(self, clock: Clock, answers: list[Any]) -> None:
        self.clock = clock
        self.answers = list(answers)
        self.times: list[float] = []

    def __call__(self) -> dict[str, Any]:
        self.times.append(self.clock.now)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return dict(answer)


# -- WaitCondition ----------------------------------------------------------------------------------


def test_condition_round_trips_through_json_and_checks_with_states_py() -> None:
    condition = WaitCondition.state(
        expected_setup_state="connected", expected_sync_state={"syncing", "paused"}
    )
    data = condition.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["expected_sync_state"] == ["paused", "syncing"]
    assert WaitCondition.from_json(data) == condition
    assert condition.check("c", _connection("connected", "paused")).outcome == "satisfied"
    resync = WaitCondition.historical_sync(completed_after=5)
    assert WaitCondition.from_json(resync.to_json()) == resync
    assert resync.check("c", _connection("connected")).outcome == "waiting"


def test_condition_names_what_is_wrong() -> None:
    with pytest.raises(
        ValueError, match="kind must be one of 'state', 'historical_sync', 'sync_completed', got 'sync'"
    ):
        WaitCondition("sync")
    with pytest.raises(ValueError, match="needs completed_after"):
        WaitCondition("historical_sync")
    with pytest.raises(FivetranValidationError, match="expected_sync_state"):
        WaitCondition.state(expected_sync_state="synching")


# -- Wait: when to read, what an answer or a failure means ------------------------------------------


def test_reads_every_poll_interval_and_takes_a_last_look_at_the_deadline() -> None:
    clock = Clock()
    reads = Reads(clock, [_connection()])
    result = run_wait(reads, _wait(clock, deadline=10.0), sleep=clock.sleep)
    assert result.status == "timeout"
    assert [t - 1_000.0 for t in reads.times] == [0.0, 3.0, 6.0, 9.0, 10.0]
    assert result.state is not None and result.state["setup_state"] == "incomplete"
    assert "The task's timeout has passed" in result.message


def test_a_known_answer_is_judged_without_a_read() -> None:
    clock = Clock()
    reads = Reads(clock, [_connection("connected")])
    assert (
        run_wait(reads, _wait(clock), known=_connection("connected"), sleep=clock.sleep).status == "success"
    )
    assert reads.times == []


def test_a_retry_after_past_the_deadline_is_a_timeout_at_once_in_every_mode() -> None:
    for patient in (False, True):
        clock = Clock()
        reads = Reads(clock, [_rate_limited(11.0)])
        result = run_wait(reads, _wait(clock, deadline=10.0, patient=patient), sleep=clock.sleep)
        assert result.status == "timeout"
        assert clock.now == 1_000.0  # nothing it could read later would count
        assert "cannot be read again before the deadline" in result.message
        assert "slow down" in result.message


def test_a_patient_wait_reads_again_when_fivetran_asked_and_not_before() -> None:
    clock = Clock()
    reads = Reads(clock, [_rate_limited(5.0), _connection("connected")])
    result = run_wait(reads, _wait(clock, deadline=60.0, patient=True), sleep=clock.sleep)
    assert result.status == "success"
    assert [t - 1_000.0 for t in reads.times] == [0.0, 5.0]


def test_a_worker_wait_fails_at_once_with_the_rate_limit_error() -> None:
    clock = Clock()
    reads = Reads(clock, [_rate_limited(5.0)])
    with pytest.raises(FivetranRateLimitError):
        run_wait(reads, _wait(clock, deadline=60.0), sleep=clock.sleep)
    assert len(reads.times) == 1


def test_a_failed_read_after_the_deadline_is_a_timeout_before_it_an_error() -> None:
    clock = Clock()
    wait = _wait(clock, deadline=10.0)
    unavailable = RetryableAPIError(status_code=503, code=None, message="busy", connection_id="c")
    assert wait.failure(unavailable) == WaitResult(
        "error", "Could not read Fivetran connection 'c': " + str(unavailable), "c"
    )
    retry_later = FivetranRetryLaterError(retry_after=20.0, status_code=503, code=None, message="busy")
    assert wait.failure(retry_later) is not None and wait.failure(retry_later).status == "timeout"  # type: ignore[union-attr]
    clock.now += 10.0
    result = wait.failure(unavailable)
    assert result is not None and result.status == "timeout"
    not_found = FivetranAPIError(status_code=404, code="NotFound", message="no such connection")
    assert wait.failure(not_found).status == "error"  # type: ignore[union-attr]


def test_read_once_raises_the_read_error_itself() -> None:
    clock = Clock()
    error = FivetranAPIError(status_code=401, code="Unauthorized", message="bad key")
    with pytest.raises(FivetranAPIError) as caught:
        read_once(Reads(clock, [error]), _wait(clock))
    assert caught.value is error
    assert read_once(Reads(clock, [_connection()]), _wait(clock)) is None


def test_first_read_at_and_the_deadline_bound_the_first_read() -> None:
    clock = Clock()
    assert _wait(clock, first_read_at=clock.now + 4).next_read() == 4.0
    assert _wait(clock, deadline=2.0, first_read_at=clock.now + 30).next_read() == 2.0


# -- the trigger carries the wait --------------------------------------------------------------------


def test_trigger_for_carries_deadline_condition_and_options_and_serializes_as_before() -> None:
    clock = Clock(1_900_000_000.0)
    wait = _wait(clock, deadline=300.0, poll_interval=7.0)
    wait.answer(_connection())
    options = HookOptions("fivetran_prod", request_timeout=12, max_retries=3)
    trigger = trigger_for(wait, options)
    assert trigger.end_time == 1_900_000_300.0
    assert trigger.first_poll_at == 1_900_000_007.0
    assert trigger.condition == wait.condition
    assert trigger.options == options
    classpath, kwargs = trigger.serialize()
    # The state and historical sync waits keep the arguments an older triggerer understands.
    assert "wait_condition" not in kwargs
    assert kwargs["expected_setup_state"] == ["connected"]
    assert kwargs["request_timeout"] == 12.0
    assert FivetranConnectionStateTrigger(**kwargs).serialize() == (classpath, kwargs)


# -- settle: the one way a wait's end becomes a result -------------------------------------------


@pytest.mark.parametrize("as_event", [False, True], ids=["result", "event"])
def test_settle_maps_every_status(as_event: bool) -> None:
    def outcome(status: Any, message: str) -> Any:
        result = WaitResult(status, message, "c", {"setup_state": "connected"}, {"id": "c"})
        return result.to_event() if as_event else result

    def timeout_error(message: str) -> BaseException:
        return AirflowSensorTimeout(message)

    ok = settle(outcome("success", "ready"), connection_id="c", timeout_error=timeout_error)
    assert (ok.state, ok.connection) == ({"setup_state": "connected"}, {"id": "c"})
    with pytest.raises(AirflowSensorTimeout, match="too slow"):
        settle(outcome("timeout", "too slow"), connection_id="c", timeout_error=timeout_error)
    with pytest.raises(AirflowFailException, match="broken"):
        settle(outcome("failed", "c is broken"), connection_id="c", timeout_error=timeout_error)
    with pytest.raises(FivetranError, match="503"):
        settle(outcome("error", "answered 503"), connection_id="c", timeout_error=timeout_error)
    with pytest.raises(FivetranError, match="without an event"):
        settle(None, connection_id="c", timeout_error=timeout_error)


# -- HookOptions -----------------------------------------------------------------------------------------


def test_hook_options_are_checked_once_naming_the_argument_and_round_trip() -> None:
    options = HookOptions(
        "fivetran_prod", request_timeout=12, max_retries=3, retry_min_wait=1, retry_max_wait=20
    )
    assert HookOptions.from_json(json.loads(json.dumps(options.to_json()))) == options
    assert hash(options) == hash(HookOptions("fivetran_prod", 12.0, 3, 1.0, 20.0))  # ints or floats alike
    hook = options.make_hook()
    assert (hook.fivetran_conn_id, hook.timeout, hook.retry_policy.max_retries) == ("fivetran_prod", 12.0, 3)
    for bad, named in (
        ({"fivetran_conn_id": " "}, "fivetran_conn_id"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"request_timeout": "30"}, "request_timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"retry_min_wait": 5, "retry_max_wait": 1}, "retry_min_wait"),
    ):
        with pytest.raises(ValueError, match=named):
            HookOptions(**bad)
