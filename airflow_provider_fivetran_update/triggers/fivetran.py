"""Wait in the triggerer for a Fivetran connection to reach a setup and sync state.

This module also holds the small, pure functions that decide whether a connection's state is
what a task waits for. ``FivetranConnectionStateSensor`` uses the same functions when it pokes, so
the sensor and the trigger can never disagree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
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

Outcome = Literal["satisfied", "waiting", "broken"]


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


class FivetranConnectionStateTrigger(BaseTrigger):
    """Poll a Fivetran connection from the triggerer until it reaches the expected state.

    Yields exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload is
    ``{"status": ..., "message": ..., "connection_id": ..., "state": ...}``: ``status`` is
    ``"success"``, ``"failed"`` (the connection is broken), ``"timeout"`` (``end_time`` passed) or
    ``"error"`` (the API could not be read); ``state`` is the :func:`connection_state` summary of the
    last answer, or ``None`` when no answer was read.

    :param connection_id: the Fivetran connection id.
    :param fivetran_conn_id: the Airflow connection holding the Fivetran API key and secret.
    :param expected_setup_state: accepted ``setup_state`` values, or ``None`` for any.
    :param expected_sync_state: accepted ``sync_state`` values, or ``None`` for any.
    :param fail_on_broken: report ``"failed"`` as soon as the connection is broken (unless
        ``"broken"`` is an expected setup state).
    :param poll_interval: seconds between two GET requests.
    :param end_time: absolute deadline (seconds since the epoch); after it the trigger reports
        ``"timeout"``. It never sleeps past it.
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
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow
        self.connection_id = connection_id
        self.end_time = float(end_time)
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
            },
        )

    def _event(self, status: str, message: str, state: dict[str, Any] | None) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]  # untyped in Airflow
            {"status": status, "message": message, "connection_id": self.connection_id, "state": state}
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
                    )
                    return
                check = check_connection_state(
                    self.connection_id,
                    connection,
                    expected_setup_state=self.expected_setup_state,
                    expected_sync_state=self.expected_sync_state,
                    fail_on_broken=self.fail_on_broken,
                )
                if check.outcome == "satisfied":
                    yield self._event("success", check.message, check.state)
                    return
                if check.outcome == "broken":
                    yield self._event("failed", check.message, check.state)
                    return
                remaining = self.end_time - time.time()
                if remaining <= 0:
                    yield self._event(
                        "timeout",
                        f"Timed out waiting: {check.message} The sensor's timeout has passed.",
                        check.state,
                    )
                    return
                self.log.info("%s Next check in %.1f s.", check.message, min(self.poll_interval, remaining))
                await asyncio.sleep(min(self.poll_interval, remaining))
        finally:
            await hook.aclose()
