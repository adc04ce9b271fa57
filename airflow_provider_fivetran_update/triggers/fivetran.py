"""Wait in the triggerer for a Fivetran connection to reach a state, or for a historical sync to end.

The decisions are made by :mod:`airflow_provider_fivetran_update.states`, the same functions the
sensor and the operator use in the worker.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

from airflow_provider_fivetran_update._compat import BaseTrigger, TriggerEvent
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.states import (
    SETUP_STATES,
    SYNC_STATES,
    StateCheck,
    check_connection_state,
    check_historical_sync,
    normalize_expected_states,
)
from airflow_provider_fivetran_update.triggers._reads import HookOptions, gather_window, shared_reader

_Read = Callable[[str], Awaitable[dict[str, Any]]]


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
    :param first_poll_at: epoch seconds before which the trigger sends nothing. The task that
        defers has just read the connection, so reading it again at once would only spend quota;
        absolute, so a restarted triggerer does not wait a full interval again.
    :param request_timeout: seconds to wait for Fivetran's answer to one request (the hook's
        ``timeout``).
    :param max_retries: how often the hook retries a request Fivetran answered with 429 or 5xx, or
        did not answer, before the trigger reports ``"error"``.
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` header wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    :param batch_reads: share reads with the other triggers of this triggerer that use the same
        Airflow connection and request settings: when at least
        :data:`~airflow_provider_fivetran_update.triggers._reads.BATCH_THRESHOLD` of them read at
        about the same moment, one ``GET /v1/connections`` (every page) serves them all instead of
        one GET each, saving rate limit and triggerer CPU. A read then waits up to
        :func:`~airflow_provider_fivetran_update.triggers._reads.gather_window` seconds (never past
        ``end_time``) for the others. ``False`` gives the trigger its own hook and one GET per poll.
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
        first_poll_at: float | None = None,
        batch_reads: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow
        self.connection_id = connection_id
        self.end_time = float(end_time)
        self.completed_after = None if completed_after is None else float(completed_after)
        self.first_poll_at = None if first_poll_at is None else float(first_poll_at)
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
        self.batch_reads = bool(batch_reads)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments (JSON values only) to rebuild this trigger.

        ``batch_reads`` is written only when it is off, so triggers serialized with the default
        can still be rebuilt by an older version of the provider (a downgraded triggerer).
        """
        kwargs: dict[str, Any] = {
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
            "first_poll_at": self.first_poll_at,
        }
        if not self.batch_reads:
            kwargs["batch_reads"] = False
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

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

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[_Read]:
        """How this trigger reads its connection: shared with other triggers, or its own hook."""
        options = HookOptions(
            self.fivetran_conn_id,
            timeout=self.request_timeout,
            max_retries=self.max_retries,
            retry_min_wait=self.retry_min_wait,
            retry_max_wait=self.retry_max_wait,
        )
        if self.batch_reads:
            async with shared_reader(options) as coordinator:
                yield functools.partial(
                    coordinator.read, window=gather_window(self.poll_interval), end_time=self.end_time
                )
            return
        hook = options.make_hook()
        try:
            yield hook.aget_connection_details
        finally:
            await hook.aclose()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the state is reached, broken, or ``end_time``; see :meth:`_reader` for how."""
        async with self._reader() as read:
            if self.first_poll_at is not None:
                delay = min(self.first_poll_at, self.end_time) - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            while True:
                try:
                    connection = await read(self.connection_id)
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
