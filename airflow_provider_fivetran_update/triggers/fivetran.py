"""Wait in the triggerer for a Fivetran connection to reach a state, or for a historical sync to end.

This module also holds the small, pure functions that decide whether a connection's state is
what a task waits for. ``FivetranConnectionStateSensor`` (when it pokes) and
``FivetranUpdateConnectionOperator`` (when it waits in the worker) use the same functions as the
trigger, so a wait in the worker and a wait in the triggerer can never disagree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

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
    """Whether ``value`` can only be checked after rendering (Jinja text, an XComArg, ...)."""
    if value is None:
        return False
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(is_rendered_later(item) for item in value)
    if isinstance(value, Mapping):
        return any(is_rendered_later(item) for item in value.values())
    return True


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
        problems = describe_problems(connection) or "Fivetran reports no failed setup test or warning."
        return StateCheck(
            "broken",
            state,
            f"Fivetran connection {connection_id!r} is broken: {current}. {problems} "
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
        problems = describe_problems(connection) or "Fivetran reports no failed setup test or warning."
        return StateCheck(
            "broken",
            state,
            f"Fivetran connection {connection_id!r} is broken, so its historical sync cannot run: "
            f"{current}. {problems} Fix the connection in the Fivetran dashboard, then clear this task.",
        )
    message = f"The historical sync of Fivetran connection {connection_id!r} has not ended: {current}."
    return StateCheck("waiting", state, message)


class FivetranConnectionStateTrigger(BaseTrigger):
    """Poll a Fivetran connection from the triggerer until it reaches the expected state.

    Two modes, one polling loop:

    * state mode (``completed_after=None``, what the sensor uses): wait until ``setup_state`` and
      ``sync_state`` are among the expected ones (:func:`check_connection_state`);
    * historical sync mode (``completed_after`` set, what the update operator uses with
      ``wait_for_completion=True``): wait until a historical sync ends after that moment
      (:func:`check_historical_sync`); the expected states are not used.

    Yields exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload is
    ``{"status": ..., "message": ..., "connection_id": ..., "state": ..., "connection": ...}``:
    ``status`` is ``"success"``, ``"failed"`` (the connection is broken, or the historical sync
    failed), ``"timeout"`` (``end_time`` passed) or ``"error"`` (the API could not be read);
    ``state`` is the :func:`connection_state` summary of the last answer and ``connection`` that
    answer's ``data`` with secrets masked, both ``None`` when no answer was read.

    :param connection_id: the Fivetran connection id.
    :param fivetran_conn_id: the Airflow connection holding the Fivetran API key and secret.
    :param expected_setup_state: accepted ``setup_state`` values, or ``None`` for any.
    :param expected_sync_state: accepted ``sync_state`` values, or ``None`` for any.
    :param fail_on_broken: report ``"failed"`` as soon as the connection is broken (unless
        ``"broken"`` is an expected setup state).
    :param poll_interval: seconds between two GET requests.
    :param end_time: absolute deadline (seconds since the epoch); after it the trigger reports
        ``"timeout"``. It never sleeps past it.
    :param completed_after: epoch seconds from
        :func:`historical_sync_anchor`: wait for a historical sync that ends after it instead of a
        state. Fixed when the update is sent and carried here, so a restarted triggerer keeps it.
    :param request_timeout: seconds to wait for Fivetran's answer to one request (the hook's
        ``timeout``).
    :param max_retries: how often the hook retries a request Fivetran answered with 429 or 5xx, or
        did not answer, before the trigger reports ``"error"``.
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` header wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    """

    def __init__(
        self,
        *,
        connection_id: str,
        end_time: float,
        fivetran_conn_id: str = FivetranHook.default_conn_name,
        expected_setup_state: str | Collection[str] | None = ("connected",),
        expected_sync_state: str | Collection[str] | None = None,
        fail_on_broken: bool = True,
        poll_interval: float = 60.0,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 60.0,
        completed_after: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow
        self.connection_id = connection_id
        self.end_time = float(end_time)
        self.completed_after = None if completed_after is None else float(completed_after)
        self.fivetran_conn_id = fivetran_conn_id
        self.expected_setup_state = normalize_expected_states(
            "expected_setup_state", expected_setup_state, SETUP_STATES
        )
        self.expected_sync_state = normalize_expected_states(
            "expected_sync_state", expected_sync_state, SYNC_STATES
        )
        self.fail_on_broken = fail_on_broken
        self.poll_interval = float(poll_interval)
        self.request_timeout = float(request_timeout)
        self.max_retries = max_retries
        self.retry_min_wait = float(retry_min_wait)
        self.retry_max_wait = float(retry_max_wait)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments (JSON values only) to rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "connection_id": self.connection_id,
                "end_time": self.end_time,
                "fivetran_conn_id": self.fivetran_conn_id,
                "expected_setup_state": self.expected_setup_state,
                "expected_sync_state": self.expected_sync_state,
                "fail_on_broken": self.fail_on_broken,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
                "max_retries": self.max_retries,
                "retry_min_wait": self.retry_min_wait,
                "retry_max_wait": self.retry_max_wait,
                "completed_after": self.completed_after,
            },
        )

    def _event(
        self, status: str, message: str, check: StateCheck | None, connection: dict[str, Any] | None
    ) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]  # untyped in Airflow
            {
                "status": status,
                "message": message,
                "connection_id": self.connection_id,
                "state": None if check is None else check.state,
                "connection": connection,
            }
        )

    def check(self, connection: Mapping[str, Any]) -> StateCheck:
        """The verdict of this trigger's mode on one GET answer."""
        if self.completed_after is not None:
            return check_historical_sync(
                self.connection_id,
                connection,
                completed_after=self.completed_after,
                fail_on_broken=self.fail_on_broken,
            )
        return check_connection_state(
            self.connection_id,
            connection,
            expected_setup_state=self.expected_setup_state,
            expected_sync_state=self.expected_sync_state,
            fail_on_broken=self.fail_on_broken,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll with the hook's async client until the state is reached, broken, or ``end_time``."""
        hook = FivetranHook(
            self.fivetran_conn_id,
            timeout=self.request_timeout,
            max_retries=self.max_retries,
            retry_min_wait=self.retry_min_wait,
            retry_max_wait=self.retry_max_wait,
        )
        try:
            while True:
                try:
                    connection = await hook.aget_connection_details(self.connection_id)
                except Exception as error:
                    # Retries already happened in the hook; what is left is for a person to read.
                    # CancelledError is not an Exception, so cancellation still propagates.
                    yield self._event(
                        "error",
                        f"Could not read Fivetran connection {self.connection_id!r}: {error}",
                        None,
                        None,
                    )
                    return
                check = self.check(connection)
                if check.outcome == "satisfied":
                    yield self._event("success", check.message, check, connection)
                    return
                if check.outcome in ("broken", "failed"):
                    yield self._event("failed", check.message, check, connection)
                    return
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    yield self._event(
                        "timeout",
                        f"Timed out waiting: {check.message} The task's timeout has passed.",
                        check,
                        connection,
                    )
                    return
                self.log.info("%s Next check in %.1f s.", check.message, min(self.poll_interval, remaining))
                await asyncio.sleep(min(self.poll_interval, remaining))
        finally:
            await hook.aclose()
