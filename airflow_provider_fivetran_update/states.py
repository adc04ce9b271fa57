"""Whether a Fivetran connection is in the state a task waits for: small, pure functions.

``FivetranConnectionStateSensor`` (when it pokes), ``FivetranUpdateConnectionOperator`` (when it
waits in the worker) and ``FivetranConnectionStateTrigger`` (in the triggerer) all decide with
these functions, so a wait in the worker and a wait in the triggerer can never disagree. The module
imports nothing heavy: the operator and sensor load it when a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from airflow_provider_fivetran_update.exceptions import FivetranValidationError

SETUP_STATES: tuple[str, ...] = ("incomplete", "connected", "broken")
"""The values Fivetran reports in ``status.setup_state``."""

SYNC_STATES: tuple[str, ...] = ("scheduled", "syncing", "paused", "rescheduled")
"""The values Fivetran reports in ``status.sync_state``."""

# Setup-test results that mean a step did not pass (the API also reports PASSED, SKIPPED, WARNING).
_FAILED_SETUP_TEST_STATUSES = frozenset({"FAILED", "JOB_FAILED"})

Outcome = Literal["satisfied", "waiting", "broken", "failed"]

CLOCK_SKEW_ALLOWANCE = 60.0
"""Seconds by which the worker's clock may run ahead of Fivetran's without a finished historical
sync being missed; see :func:`historical_sync_anchor`."""


def is_rendered_later(value: Any) -> bool:
    """Whether ``value`` can only be checked after rendering (Jinja text, an XComArg, ...).

    Plain values (``None``, numbers, text without Jinja, and lists and dicts of them) are seen by
    the task as they are, so they can be checked when the DAG file is parsed. Airflow renders the
    values of a dict, never its keys.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return False
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(is_rendered_later(item) for item in value)
    if isinstance(value, Mapping):
        return any(is_rendered_later(item) for item in value.values())
    return True  # an XComArg, a ParamsDict entry, a custom template object...


def normalize_expected_states(
    argument: str, value: str | Collection[str] | None, allowed: Sequence[str]
) -> list[str] | None:
    """Turn an ``expected_*_state`` argument into a list of accepted values, or ``None`` for any.

    ``value`` may be one state (``"connected"``), a comma-separated string (``"scheduled,syncing"``,
    which is what a Jinja template renders to), or a collection of states. Values are compared
    without surrounding blanks and case-insensitively. Raises
    :class:`~airflow_provider_fivetran_update.exceptions.FivetranValidationError` naming ``argument``
    and the allowed values when a value is unknown, not a string, or nothing is given.
    """
    if value is None:
        return None
    if isinstance(value, str):
        # Blank pieces are dropped, so a trailing comma from a template loop does no harm.
        items: list[Any] = [piece for piece in value.split(",") if piece.strip()]
    elif isinstance(value, Collection) and not isinstance(value, Mapping):
        # A set has no order; sort it so the log, the trigger's kwargs and the XCom are stable.
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    else:
        raise FivetranValidationError(
            argument,
            f"expected a state, a comma-separated string or a list of states, got {type(value).__name__}.",
            allowed,
        )
    states: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise FivetranValidationError(argument, f"{item!r} is not a string.", allowed)
        state = item.strip().lower()
        if state not in allowed:
            raise FivetranValidationError(argument, f"{item.strip()!r} is not a Fivetran state.", allowed)
        if state not in states:
            states.append(state)
    if not states:
        raise FivetranValidationError(argument, "no state given; pass None to accept any state.", allowed)
    return states


def connection_state(connection_id: str, connection: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-safe summary of a connection that the sensor returns (its XCom) and events carry.

    ``connection`` is the ``data`` of ``GET /v1/connections/{id}``. Only state and timestamps are
    kept, never ``config`` or ``auth``.
    """
    status = connection.get("status") or {}
    return {
        "connection_id": connection.get("id", connection_id),
        "service": connection.get("service"),
        "paused": connection.get("paused"),
        "setup_state": status.get("setup_state"),
        "sync_state": status.get("sync_state"),
        "update_state": status.get("update_state"),
        "is_historical_sync": status.get("is_historical_sync"),
        "rescheduled_for": status.get("rescheduled_for"),
        "succeeded_at": connection.get("succeeded_at"),
        "failed_at": connection.get("failed_at"),
    }


def describe_problems(connection: Mapping[str, Any]) -> str:
    """What Fivetran says is wrong: failed setup tests, then status warnings and tasks.

    Returns an empty string when Fivetran reports nothing.
    """
    parts: list[str] = []
    failed_tests = [
        test
        for test in connection.get("setup_tests") or []
        if isinstance(test, Mapping) and str(test.get("status", "")).upper() in _FAILED_SETUP_TEST_STATUSES
    ]
    if failed_tests:
        parts.append(
            "Failed setup tests: "
            + "; ".join(_describe_item(test.get("title"), test.get("message"), None) for test in failed_tests)
            + "."
        )
    status = connection.get("status") or {}
    for key, label in (("tasks", "Tasks"), ("warnings", "Warnings")):
        alerts = [alert for alert in status.get(key) or [] if isinstance(alert, Mapping)]
        if alerts:
            parts.append(
                f"{label}: "
                + "; ".join(
                    _describe_item(alert.get("code"), alert.get("message"), alert.get("details"))
                    for alert in alerts
                )
                + "."
            )
    return " ".join(parts)


def _describe_item(name: Any, message: Any, details: Any) -> str:
    message = str(message or "").rstrip(". ")  # the list adds its own punctuation
    text = f"{name}: {message}" if name and message else str(name or message or "(no details)")
    if isinstance(details, str) and details:
        text += f" ({details.rstrip('. ')})"
    return text


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds of a Fivetran timestamp (``"2026-01-01T00:00:00.000000Z"``), or ``None``.

    ``None``, an empty or an unreadable value gives ``None``: a timestamp that cannot be read never
    counts as a sync that finished.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:  # Fivetran reports UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_epoch(epoch: float) -> str:
    """``2026-01-01T00:00:00Z``-style UTC text of epoch seconds, for messages."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def historical_sync_anchor(*connections: Mapping[str, Any] | None, requested_at: float | None) -> float:
    """The moment after which a finished sync counts as the end of the historical sync waited for.

    A sync counts only when its ``succeeded_at`` / ``failed_at`` is strictly later than the value
    returned here, which is the latest of:

    * every ``succeeded_at`` and ``failed_at`` that Fivetran reported in ``connections`` (answers
      read before the historical sync could have ended: the GET before the update and the PATCH
      answer). These are Fivetran's own clock, so no sync that had already ended can count,
      whatever the skew between the clocks;
    * ``requested_at`` (the worker's clock, read just before the PATCH was sent) minus
      :data:`CLOCK_SKEW_ALLOWANCE`: a sync that ended before the request cannot count even when
      Fivetran's answers carry no timestamp. The allowance keeps a worker clock that runs up to
      a minute ahead of Fivetran's from hiding the sync's end.

    ``requested_at=None`` is for a historical sync that was already pending when the task looked
    (it did not request it): only Fivetran's timestamps count then. The result is never below 0
    (the epoch), so it stays a plain JSON number in the trigger's arguments.
    """
    anchor = 0.0 if requested_at is None else max(0.0, requested_at - CLOCK_SKEW_ALLOWANCE)
    for connection in connections:
        if not connection:
            continue
        for key in ("succeeded_at", "failed_at"):
            moment = parse_timestamp(connection.get(key))
            if moment is not None:
                anchor = max(anchor, moment)
    return anchor


def describe_expected(expected: Sequence[str] | None) -> str:
    """``any`` or ``'connected'`` or ``one of 'scheduled', 'syncing'``, for messages."""
    if expected is None:
        return "any"
    if len(expected) == 1:
        return repr(expected[0])
    return "one of " + ", ".join(repr(state) for state in expected)


@dataclass(frozen=True)
class StateCheck:
    """The verdict on one GET answer.

    :param outcome: ``"satisfied"`` (stop waiting), ``"broken"`` (fail now) or ``"waiting"``.
    :param state: the :func:`connection_state` summary.
    :param message: one line for the task log, naming the connection and current vs expected.
    """

    outcome: Outcome
    state: dict[str, Any]
    message: str


def _broken(
    connection_id: str, state: dict[str, Any], connection: Mapping[str, Any], why: str, next_step: str
) -> StateCheck:
    """The ``broken`` outcome: what Fivetran reports, the failed setup tests, what to do next."""
    problems = describe_problems(connection) or "Fivetran reports no failed setup test or warning."
    return StateCheck(
        "broken", state, f"Fivetran connection {connection_id!r} is broken{why}. {problems} {next_step}"
    )


def check_connection_state(
    connection_id: str,
    connection: Mapping[str, Any],
    *,
    expected_setup_state: Sequence[str] | None,
    expected_sync_state: Sequence[str] | None,
    fail_on_broken: bool,
) -> StateCheck:
    """Decide whether ``connection`` (a GET answer) is in the expected state, broken, or not yet there.

    A ``broken`` setup state counts as broken (fail at once) when ``fail_on_broken`` is true and
    ``"broken"`` is not listed in ``expected_setup_state``; ``None`` ("any setup state") does not
    list it, so a broken connection never satisfies a sensor by accident.
    """
    state = connection_state(connection_id, connection)
    setup_state, sync_state = state["setup_state"], state["sync_state"]
    current = (
        f"setup_state={setup_state!r} (expected {describe_expected(expected_setup_state)}), "
        f"sync_state={sync_state!r} (expected {describe_expected(expected_sync_state)})"
    )
    if setup_state == "broken" and fail_on_broken and "broken" not in (expected_setup_state or ()):
        return _broken(
            connection_id,
            state,
            connection,
            f": {current}",
            "Fix the connection in the Fivetran dashboard (or with the update operator and "
            "run_setup_tests=True), then clear this task.",
        )
    setup_ok = expected_setup_state is None or setup_state in expected_setup_state
    sync_ok = expected_sync_state is None or sync_state in expected_sync_state
    if setup_ok and sync_ok:
        return StateCheck("satisfied", state, f"Fivetran connection {connection_id!r} is ready: {current}.")
    return StateCheck("waiting", state, f"Fivetran connection {connection_id!r} is not ready yet: {current}.")


def check_historical_sync(
    connection_id: str,
    connection: Mapping[str, Any],
    *,
    completed_after: float,
    fail_on_broken: bool = True,
) -> StateCheck:
    """Decide whether the historical sync requested at ``completed_after`` has ended.

    The verdict rests on Fivetran's timestamps, not on having seen the sync run, so a sync that
    starts and ends between two reads is still noticed:

    * ``"satisfied"``: ``succeeded_at`` is later than ``completed_after`` (and than ``failed_at``),
      ``status.is_historical_sync`` is false and ``sync_state`` is not ``syncing``;
    * ``"failed"``: ``failed_at`` is later than ``completed_after`` (and than ``succeeded_at``) and
      ``sync_state`` is not ``syncing``; the message carries Fivetran's status tasks and warnings;
    * ``"broken"``: the setup state is ``broken`` (a broken connection cannot sync), when
      ``fail_on_broken``;
    * ``"waiting"`` otherwise.

    :param completed_after: epoch seconds, from :func:`historical_sync_anchor`.
    """
    state = connection_state(connection_id, connection)
    never = float("-inf")  # a missing or unreadable timestamp never counts
    succeeded, failed = (
        never if moment is None else moment
        for moment in (parse_timestamp(state["succeeded_at"]), parse_timestamp(state["failed_at"]))
    )
    running = state["sync_state"] == "syncing"
    pending = state["is_historical_sync"] is True
    waiting_for = (
        f"a historical sync that ends after {format_epoch(completed_after)}"
        if completed_after > 0
        else "the pending historical sync to end"
    )
    current = (
        f"sync_state={state['sync_state']!r}, is_historical_sync={state['is_historical_sync']!r}, "
        f"succeeded_at={state['succeeded_at']!r}, failed_at={state['failed_at']!r}; waiting for {waiting_for}"
    )
    if succeeded > completed_after and succeeded >= failed and not pending and not running:
        return StateCheck(
            "satisfied",
            state,
            f"The historical sync of Fivetran connection {connection_id!r} succeeded at "
            f"{state['succeeded_at']}: {current}.",
        )
    if failed > completed_after and failed > succeeded and not running:
        problems = describe_problems(connection) or "Fivetran reports no status task or warning."
        return StateCheck(
            "failed",
            state,
            f"The historical sync of Fivetran connection {connection_id!r} failed at {state['failed_at']}: "
            f"{current}. {problems} Fix the cause in the Fivetran dashboard, then clear this task: it "
            "requests the historical sync again, or waits for the one Fivetran still reports pending.",
        )
    if fail_on_broken and state["setup_state"] == "broken":
        return _broken(
            connection_id,
            state,
            connection,
            f", so its historical sync cannot run: {current}",
            "Fix the connection in the Fivetran dashboard, then clear this task.",
        )
    message = f"The historical sync of Fivetran connection {connection_id!r} has not ended: {current}."
    return StateCheck("waiting", state, message)


def check_sync_completed(
    connection_id: str,
    connection: Mapping[str, Any],
    *,
    completed_after: float,
    fail_on_sync_failure: bool = True,
    fail_on_paused: bool = True,
    fail_on_broken: bool = True,
) -> StateCheck:
    """Decide whether a sync of ``connection`` (a GET answer) completed after ``completed_after``.

    Fivetran's timestamps decide, not having seen the sync run, so a sync that starts and ends
    between two reads is still noticed:

    * ``"satisfied"``: ``succeeded_at`` is later than ``completed_after`` and not older than
      ``failed_at`` (a sync started since, an automatic one say, does not undo it);
    * ``"failed"``: ``failed_at`` is later than ``completed_after`` and than ``succeeded_at``, when
      ``fail_on_sync_failure`` (otherwise the wait goes on for a later success); the message
      carries Fivetran's status tasks and warnings. Also when the connection is paused and
      ``fail_on_paused``: a paused connection does not sync, so waiting would only time out;
    * ``"broken"``: the setup state is ``broken`` (its syncs fail), when ``fail_on_broken``;
    * ``"waiting"`` otherwise, ``rescheduled`` included: Fivetran postponed the sync itself (to
      ``status.rescheduled_for``) and resumes it then.

    :param completed_after: epoch seconds; only a sync that ends strictly later counts.
    """
    state = connection_state(connection_id, connection)
    never = float("-inf")  # a missing or unreadable timestamp never counts
    succeeded, failed = (
        never if moment is None else moment
        for moment in (parse_timestamp(state["succeeded_at"]), parse_timestamp(state["failed_at"]))
    )
    current = (
        f"sync_state={state['sync_state']!r}, succeeded_at={state['succeeded_at']!r}, "
        f"failed_at={state['failed_at']!r}; waiting for a sync that ends after "
        f"{format_epoch(completed_after)}"
    )
    if succeeded > completed_after and succeeded >= failed:
        return StateCheck(
            "satisfied",
            state,
            f"A sync of Fivetran connection {connection_id!r} succeeded at {state['succeeded_at']}: "
            f"{current}.",
        )
    if fail_on_sync_failure and failed > completed_after and failed > succeeded:
        problems = describe_problems(connection) or "Fivetran reports no status task or warning."
        return StateCheck(
            "failed",
            state,
            f"A sync of Fivetran connection {connection_id!r} failed at {state['failed_at']}: {current}. "
            f"{problems} Fix the cause (the connection's Logs tab in the Fivetran dashboard shows "
            "it), then clear this task.",
        )
    if fail_on_paused and (state["paused"] is True or state["sync_state"] == "paused"):
        return StateCheck(
            "failed",
            state,
            f"Fivetran connection {connection_id!r} is paused, so no sync will complete: {current}. "
            "Resume it in the Fivetran dashboard (or pass resume_if_paused=True to the sync "
            "operator), then clear this task.",
        )
    if fail_on_broken and state["setup_state"] == "broken":
        return _broken(
            connection_id,
            state,
            connection,
            f", so its syncs fail: {current}",
            "Fix the connection in the Fivetran dashboard, or pass recover_broken=True to the sync "
            "operator to run the setup tests first, then clear this task.",
        )
    if state["sync_state"] == "rescheduled":
        when = state["rescheduled_for"] or "a time Fivetran did not report"
        resumes = (
            "on a manual schedule it starts only when a sync is requested again"
            if connection.get("schedule_type") == "manual"
            else "it resumes by itself"
        )
        return StateCheck(
            "waiting",
            state,
            f"Fivetran rescheduled the sync of connection {connection_id!r} for {when} (it waits out a "
            f"source limit; {resumes}): {current}.",
        )
    return StateCheck(
        "waiting", state, f"No sync of Fivetran connection {connection_id!r} has completed yet: {current}."
    )
