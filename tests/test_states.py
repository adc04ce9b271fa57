"""The pure checks of states.py: expected states, the state verdict, problems, the historical-sync verdict."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.states import (
    CLOCK_SKEW_ALLOWANCE,
    SETUP_STATES,
    SYNC_STATES,
    check_connection_state,
    check_historical_sync,
    describe_problems,
    historical_sync_anchor,
    normalize_expected_states,
)
from airflow_provider_fivetran_update.testing.model import format_timestamp


def _ts(epoch: float) -> str:
    return format_timestamp(epoch) or ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("connected", ["connected"]),
        (" Connected ", ["connected"]),
        ("incomplete,connected", ["incomplete", "connected"]),
        ("incomplete, connected, incomplete,", ["incomplete", "connected"]),
        (["broken", "connected"], ["broken", "connected"]),
        (("connected",), ["connected"]),
        ({"connected", "broken"}, ["broken", "connected"]),
    ],
)
def test_normalize_expected_states(value: Any, expected: list[str] | None) -> None:
    assert normalize_expected_states("expected_setup_state", value, SETUP_STATES) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("synching", "'synching' is not a Fivetran state"),
        (["syncing", "done"], "'done' is not a Fivetran state"),
        ("", "no state given"),
        (" , ", "no state given"),
        ([], "no state given"),
        ([1], "1 is not a string"),
        (5, "got int"),
    ],
)
def test_normalize_expected_states_names_argument_and_allowed_values(value: Any, problem: str) -> None:
    with pytest.raises(FivetranValidationError) as error:
        normalize_expected_states("expected_sync_state", value, SYNC_STATES)
    message = str(error.value)
    assert "expected_sync_state" in message
    assert problem in message
    assert "'scheduled', 'syncing', 'paused', 'rescheduled'" in message


def _connection(setup_state: str, sync_state: str = "scheduled", **extra: Any) -> dict[str, Any]:
    status = {"setup_state": setup_state, "sync_state": sync_state, "tasks": [], "warnings": []}
    status.update(extra.pop("status", {}))
    return {"id": "c", "status": status, **extra}


def test_check_connection_state_outcomes() -> None:
    def outcome(
        connection: dict[str, Any], setup: list[str] | None, sync: list[str] | None, fail: bool
    ) -> str:
        return check_connection_state(
            "c", connection, expected_setup_state=setup, expected_sync_state=sync, fail_on_broken=fail
        ).outcome

    assert outcome(_connection("connected"), ["connected"], None, True) == "satisfied"
    assert outcome(_connection("connected", "syncing"), ["connected"], ["scheduled"], True) == "waiting"
    assert outcome(_connection("incomplete"), ["connected"], None, True) == "waiting"
    assert outcome(_connection("broken"), ["connected"], None, True) == "broken"
    # None means any setup state, yet a broken connection still fails while fail_on_broken is on.
    assert outcome(_connection("broken"), None, None, True) == "broken"
    assert outcome(_connection("broken"), None, None, False) == "satisfied"
    assert outcome(_connection("broken"), ["connected"], None, False) == "waiting"
    assert outcome(_connection("broken"), ["broken"], None, True) == "satisfied"


def test_describe_problems_lists_failed_tests_tasks_and_warnings() -> None:
    connection = _connection(
        "broken",
        setup_tests=[
            {"title": "Connecting to host", "status": "PASSED", "message": ""},
            {"title": "Validating credentials", "status": "FAILED", "message": "Bad password."},
            {"title": "Checking permissions", "status": "SKIPPED", "message": ""},
            {"title": "Reading schema", "status": "JOB_FAILED", "message": "Timed out."},
        ],
        status={
            "tasks": [{"code": "reconnect", "message": "Reconnect", "details": "Re-authorize the source."}],
            "warnings": [{"code": "setup_tests_failed", "message": "Setup tests failed"}],
        },
    )
    text = describe_problems(connection)
    assert text == (
        "Failed setup tests: Validating credentials: Bad password; Reading schema: Timed out. "
        "Tasks: reconnect: Reconnect (Re-authorize the source). "
        "Warnings: setup_tests_failed: Setup tests failed."
    )
    assert describe_problems(_connection("broken")) == ""
    message = check_connection_state(
        "c", _connection("broken"), expected_setup_state=None, expected_sync_state=None, fail_on_broken=True
    ).message
    assert "Fivetran reports no failed setup test or warning" in message


def _conn(
    sync_state: str, historical: bool, succeeded: float | None, failed: float | None, **status: Any
) -> Any:
    return {
        "id": "c",
        "succeeded_at": None if succeeded is None else _ts(succeeded),
        "failed_at": None if failed is None else _ts(failed),
        "status": {
            "setup_state": "connected",
            "sync_state": sync_state,
            "is_historical_sync": historical,
            **status,
        },
    }


def test_check_historical_sync_rests_on_timestamps() -> None:
    anchor = 1_800_000_000.0

    def outcome(connection: Any) -> str:
        return check_historical_sync("c", connection, completed_after=anchor).outcome

    assert outcome(_conn("syncing", True, anchor - 100, None)) == "waiting"
    # Ended between two reads (never seen syncing): the timestamp is enough.
    assert outcome(_conn("scheduled", False, anchor + 5, None)) == "satisfied"
    # An older success, or a new one while the flag is still up or a sync still runs, is not the end.
    assert outcome(_conn("scheduled", False, anchor - 1, None)) == "waiting"
    assert outcome(_conn("scheduled", True, anchor + 5, None)) == "waiting"
    assert outcome(_conn("syncing", False, anchor + 5, None)) == "waiting"
    # Failure: a newer failed_at; the later of the two timestamps wins.
    failed = _conn(
        "scheduled",
        False,
        anchor - 100,
        anchor + 5,
        tasks=[{"code": "sync_failed", "message": "Historical sync failed", "details": "Disk full."}],
        warnings=[{"code": "slow_source", "message": "The source is slow"}],
    )
    check = check_historical_sync("c", failed, completed_after=anchor)
    assert check.outcome == "failed"
    assert "Tasks: sync_failed: Historical sync failed (Disk full)" in check.message
    assert "Warnings: slow_source: The source is slow" in check.message
    assert outcome(_conn("scheduled", False, anchor + 9, anchor + 5)) == "satisfied"
    assert outcome(_conn("syncing", True, None, anchor + 5)) == "waiting"
    broken = _conn("scheduled", True, None, None, setup_state="broken")
    assert outcome(broken) == "broken"


def test_anchor_takes_the_latest_of_fivetrans_timestamps_and_the_request_minus_skew() -> None:
    requested = 1_800_000_000.0
    before = _conn("scheduled", False, requested - 10, requested - 500)
    assert historical_sync_anchor(before, None, requested_at=requested) == requested - 10
    assert historical_sync_anchor({}, requested_at=requested) == requested - CLOCK_SKEW_ALLOWANCE
    # A pending sync the task did not request: Fivetran's timestamps alone, never below 0.
    assert historical_sync_anchor(before, requested_at=None) == requested - 10
    assert historical_sync_anchor(_conn("syncing", True, None, None), requested_at=None) == 0.0
