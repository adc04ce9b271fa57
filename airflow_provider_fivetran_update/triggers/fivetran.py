"""Wait in the triggerer for a Fivetran connection to reach a state, or for a historical sync to end.

The loop is :func:`airflow_provider_fivetran_update.waiting.await_wait`, the async twin of the wait
the sensor and the operator run in the worker, over the same pure checks in ``states.py``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

from airflow_provider_fivetran_update._compat import BaseTrigger, TriggerEvent
from airflow_provider_fivetran_update.clock import SYSTEM_CLOCK, Clock
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID, HookOptions
from airflow_provider_fivetran_update.states import StateCheck
from airflow_provider_fivetran_update.triggers._reads import gather_window, shared_reader
from airflow_provider_fivetran_update.waiting import Wait, WaitCondition, WaitResult, await_wait

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
        ``"timeout"``. Neither its sleeps nor the hook's retries pass it; a ``Retry-After`` that
        ends after it reports ``"timeout"`` at once.
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
    :param retry_max_wait: the longest wait between two of those retries, in seconds. A longer
        ``Retry-After`` is not slept by the hook: the trigger waits it out between two reads.
    :param wait_condition: what to wait for, as
        :meth:`~airflow_provider_fivetran_update.waiting.WaitCondition.to_json` writes it; when given,
        ``expected_setup_state``, ``expected_sync_state``, ``fail_on_broken`` and
        ``completed_after`` are not used.
    :param batch_reads: share reads with the other triggers of this triggerer that use the same
        Airflow connection and request settings: when at least
        :data:`~airflow_provider_fivetran_update.triggers._reads.BATCH_THRESHOLD` of them read at
        about the same moment, one ``GET /v1/connections`` (every page) serves them all instead of
        one GET each, saving rate limit and triggerer CPU. A read then waits up to
        :func:`~airflow_provider_fivetran_update.triggers._reads.gather_window` seconds (never past
        ``end_time``) for the others. ``False`` gives the trigger its own hook and one GET per poll.
    :param clock: the time the trigger runs on (:data:`~airflow_provider_fivetran_update.clock.SYSTEM_CLOCK`);
        tests pass a :class:`~airflow_provider_fivetran_update.testing.ManualClock`. Not serialized:
        a trigger rebuilt by the triggerer runs on real time.
    """

    def __init__(
        self,
        *,
        connection_id: str,
        end_time: float,
        fivetran_conn_id: str = DEFAULT_CONN_ID,
        expected_setup_state: str | Collection[str] | None = ("connected",),
        expected_sync_state: str | Collection[str] | None = None,
        fail_on_broken: bool = True,
        poll_interval: float = 60.0,
        # The hook's defaults, from the one place that holds them.
        request_timeout: float = HookOptions.request_timeout,
        max_retries: int = HookOptions.max_retries,
        retry_min_wait: float = HookOptions.retry_min_wait,
        retry_max_wait: float = HookOptions.retry_max_wait,
        completed_after: float | None = None,
        first_poll_at: float | None = None,
        batch_reads: bool = True,
        wait_condition: Mapping[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow
        self.connection_id = connection_id
        self.end_time = float(end_time)
        self.first_poll_at = None if first_poll_at is None else float(first_poll_at)
        if wait_condition is not None:
            self.condition = WaitCondition.from_json(wait_condition)
        elif completed_after is not None:
            self.condition = WaitCondition.historical_sync(
                completed_after=completed_after, fail_on_broken=fail_on_broken
            )
        else:
            self.condition = WaitCondition.state(
                expected_setup_state=expected_setup_state,
                expected_sync_state=expected_sync_state,
                fail_on_broken=fail_on_broken,
            )
        self.options = HookOptions(
            fivetran_conn_id,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_min_wait=retry_min_wait,
            retry_max_wait=retry_max_wait,
        )
        self.poll_interval = float(poll_interval)
        self.batch_reads = bool(batch_reads)
        self.clock = clock

    @property
    def completed_after(self) -> float | None:
        """The historical sync mode's anchor (epoch seconds), ``None`` in state mode."""
        return self.condition.completed_after

    @property
    def expected_setup_state(self) -> list[str] | None:
        """Accepted ``setup_state`` values in state mode, ``None`` for any."""
        states = self.condition.expected_setup_state
        return None if states is None else list(states)

    @property
    def expected_sync_state(self) -> list[str] | None:
        """Accepted ``sync_state`` values in state mode, ``None`` for any."""
        states = self.condition.expected_sync_state
        return None if states is None else list(states)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments (JSON values only) to rebuild this trigger.

        The state and historical sync modes are written as separate arguments, and
        ``batch_reads`` only when it is off, so these triggers can still be rebuilt by an older
        version of the provider (a downgraded triggerer); other kinds of wait need
        ``wait_condition``, which an older version refuses rather than misreads.
        """
        condition = self.condition.to_json()
        kind = condition.pop("kind")
        kwargs: dict[str, Any] = {
            "connection_id": self.connection_id,
            "end_time": self.end_time,
            **self.options.to_json(),
            "poll_interval": self.poll_interval,
            "first_poll_at": self.first_poll_at,
        }
        if kind in ("state", "historical_sync"):
            kwargs.update(condition)
        else:
            kwargs["wait_condition"] = {"kind": kind, **condition}
        if not self.batch_reads:
            kwargs["batch_reads"] = False
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def check(self, connection: Mapping[str, Any]) -> StateCheck:
        """The verdict of this trigger's condition on one GET answer."""
        return self.condition.check(self.connection_id, connection)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[_Read]:
        """How this trigger reads its connection: shared with other triggers, or its own hook."""
        if self.batch_reads:
            async with shared_reader(self.options, clock=self.clock) as coordinator:
                yield functools.partial(
                    coordinator.read, window=gather_window(self.poll_interval), end_time=self.end_time
                )
            return
        hook = self.options.make_hook()
        hook.clock = self.clock
        try:
            yield functools.partial(hook.aget_connection_details, deadline=self.end_time)
        finally:
            await hook.aclose()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait (see :func:`~airflow_provider_fivetran_update.waiting.await_wait`), then yield one event.

        The event is yielded after the reader is closed: a triggerer may stop iterating as soon
        as it has the event, and a reader left open then would be cleaned up outside this task.
        """
        wait = Wait(
            self.connection_id,
            self.condition,
            deadline=self.end_time,
            poll_interval=self.poll_interval,
            first_read_at=self.first_poll_at,
            patient=True,
            clock=self.clock,
            log=self.log,
        )
        result: WaitResult
        async with self._reader() as read:
            result = await await_wait(lambda: read(self.connection_id), wait, sleep=self.clock.sleep)
        yield TriggerEvent(result.to_event())  # type: ignore[no-untyped-call]  # untyped in Airflow
