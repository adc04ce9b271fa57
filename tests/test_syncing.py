"""Pure pieces of the sync path: the sync-completed check, re-sync scopes, completed_after, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_fivetran_update.exceptions import FivetranError, FivetranValidationError
from airflow_provider_fivetran_update.states import check_sync_completed, parse_timestamp
from airflow_provider_fivetran_update.syncing import (
    completed_after_epoch,
    normalize_resync_scope,
    pick_connection_by_name,
)

BASE = "2026-01-01T00:00:00Z"
BEFORE = "2025-12-31T23:59:00.000000Z"
AFTER = "2026-01-01T00:00:30.000000Z"
LATER = "2026-01-01T00:01:00.000000Z"


def connection(
    *,
    succeeded_at: str | None = BEFORE,
    failed_at: str | None = None,
    sync_state: str = "scheduled",
    setup_state: str = "connected",
    paused: bool = False,
    **status: Any,
) -> dict[str, Any]:
    return {
        "id": "conn_a",
        "paused": paused,
        "succeeded_at": succeeded_at,
        "failed_at": failed_at,
        "status": {"sync_state": sync_state, "setup_state": setup_state, **status},
    }


def verdict(conn: dict[str, Any], **kwargs: Any) -> str:
    baseline = parse_timestamp(BASE)
    assert baseline is not None
    return check_sync_completed("conn_a", conn, completed_after=baseline, **kwargs).outcome


@pytest.mark.parametrize(
    ("conn", "expected"),
    [
        (connection(), "waiting"),
        (connection(sync_state="syncing"), "waiting"),
        (connection(succeeded_at=AFTER), "satisfied"),
        # A sync that ended between two reads: only the timestamp shows it, and it is enough.
        (connection(succeeded_at=AFTER, sync_state="scheduled"), "satisfied"),
        # An automatic sync already running again does not undo the one that completed.
        (connection(succeeded_at=AFTER, sync_state="syncing"), "satisfied"),
        (connection(failed_at=AFTER), "failed"),
        (connection(succeeded_at=AFTER, failed_at=LATER), "failed"),
        (connection(succeeded_at=LATER, failed_at=AFTER), "satisfied"),
        # A failure before the baseline is someone else's.
        (connection(failed_at=BEFORE, succeeded_at=None), "waiting"),
        (connection(paused=True, sync_state="paused"), "failed"),
        (connection(setup_state="broken"), "broken"),
        (connection(sync_state="rescheduled", rescheduled_for=LATER), "waiting"),
        (connection(succeeded_at="not a time"), "waiting"),
    ],
)
def test_check_sync_completed_outcomes(conn: dict[str, Any], expected: str) -> None:
    assert verdict(conn) == expected


def test_check_sync_completed_switches() -> None:
    assert verdict(connection(failed_at=AFTER), fail_on_sync_failure=False) == "waiting"
    assert verdict(connection(paused=True, sync_state="paused"), fail_on_paused=False) == "waiting"
    assert verdict(connection(setup_state="broken"), fail_on_broken=False) == "waiting"
    # Success wins over the connection having been paused or broken since.
    assert verdict(connection(succeeded_at=AFTER, paused=True, sync_state="paused")) == "satisfied"


def test_check_sync_completed_messages_say_what_and_what_next() -> None:
    baseline = parse_timestamp(BASE)
    assert baseline is not None
    failed = check_sync_completed(
        "conn_a",
        connection(failed_at=AFTER, tasks=[{"code": "resolve_sync_failure", "message": "Sync failed"}]),
        completed_after=baseline,
    )
    assert "conn_a" in failed.message and "resolve_sync_failure: Sync failed" in failed.message
    assert "clear this task" in failed.message
    paused = check_sync_completed("conn_a", connection(paused=True), completed_after=baseline)
    assert "paused" in paused.message and "resume_if_paused=True" in paused.message
    broken = check_sync_completed("conn_a", connection(setup_state="broken"), completed_after=baseline)
    assert "recover_broken=True" in broken.message
    rescheduled = check_sync_completed(
        "conn_a", connection(sync_state="rescheduled", rescheduled_for=LATER), completed_after=baseline
    )
    assert LATER in rescheduled.message
    assert failed.state["connection_id"] == "conn_a" and "config" not in failed.state


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ({"public": ["orders"]}, {"public": ["orders"]}),
        ({"public": ("orders", "orders", "users")}, {"public": ["orders", "users"]}),
        ('{"public": ["orders"], "crm": ["deals"]}', {"public": ["orders"], "crm": ["deals"]}),
    ],
)
def test_normalize_resync_scope(value: Any, expected: Any) -> None:
    assert normalize_resync_scope(value) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({}, "non-empty mapping"),
        (["public"], "non-empty mapping"),
        ("{not json", "is not JSON"),
        ({"public": []}, "non-empty list"),
        ({"public": "orders"}, "non-empty list"),
        ({"public": ["orders", 3]}, "not a non-empty string"),
        ({"": ["orders"]}, "not a non-empty string"),
    ],
)
def test_normalize_resync_scope_names_the_field_and_the_form(value: Any, problem: str) -> None:
    with pytest.raises(FivetranValidationError) as caught:
        normalize_resync_scope(value)
    assert caught.value.field == "scope"
    assert problem in str(caught.value)
    assert '{"schema_name": ["table_name", ...]}' in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 1, 1),
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01 00:00:00",
        1_767_225_600,
        "1767225600",
    ],
)
def test_completed_after_epoch(value: Any) -> None:
    assert completed_after_epoch(value) == 1_767_225_600.0


@pytest.mark.parametrize("value", ["yesterday", "", None, True, ["2026-01-01"]])
def test_completed_after_epoch_rejects_what_is_not_a_time(value: Any) -> None:
    with pytest.raises(FivetranValidationError) as caught:
        completed_after_epoch(value)
    assert caught.value.field == "completed_after"
    assert "ISO 8601" in str(caught.value)


def test_pick_connection_by_name() -> None:
    items = [
        {"id": "a1", "schema": "sales", "group_id": "g1"},
        {"id": "a2", "schema": "sales_eu", "group_id": "g1"},
    ]
    assert pick_connection_by_name("sales", items, group_ids=["g1"])["id"] == "a1"
    with pytest.raises(FivetranError, match=r"No Fivetran connection named 'billing' in group 'g1'"):
        pick_connection_by_name("billing", items, group_ids=["g1"])
    twice = [*items, {"id": "b1", "schema": "sales", "group_id": "g2"}]
    with pytest.raises(FivetranError) as caught:
        pick_connection_by_name("sales", twice, group_ids=None)
    message = str(caught.value)
    assert "'a1' in group 'g1'" in message and "'b1' in group 'g2'" in message and "group_id" in message


def test_sync_completed_condition_travels_to_the_trigger_and_back() -> None:
    import json

    from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger
    from airflow_provider_fivetran_update.waiting import WaitCondition

    condition = WaitCondition.sync_completed(completed_after=1_767_225_600.0, fail_on_sync_failure=False)
    trigger = FivetranConnectionStateTrigger(
        connection_id="conn_a", end_time=1_767_229_200.0, wait_condition=condition.to_json()
    )
    _, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = FivetranConnectionStateTrigger(**kwargs)
    assert rebuilt.condition == condition
    assert rebuilt.check(connection(failed_at=AFTER)).outcome == "waiting"  # fail_on_sync_failure=False
    assert rebuilt.check(connection(succeeded_at=AFTER)).outcome == "satisfied"
    # The older kinds keep the arguments an older triggerer knows.
    assert "fail_on_sync_failure" not in WaitCondition.state().to_json()
    with pytest.raises(ValueError, match="'sync_completed' wait needs completed_after"):
        WaitCondition("sync_completed")
