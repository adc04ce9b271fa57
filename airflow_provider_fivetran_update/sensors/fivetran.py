"""Sensor that waits for a Fivetran connection to reach a setup state and a sync state."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import (
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
    first_reschedule_date,
)
from airflow_provider_fivetran_update.by_name import FivetranConnectionByName
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID
from airflow_provider_fivetran_update.links import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    connection_dashboard_url,
)
from airflow_provider_fivetran_update.sensors.sync import (
    FivetranSyncCompletedSensor as FivetranSyncCompletedSensor,
)
from airflow_provider_fivetran_update.states import (
    SETUP_STATES,
    SYNC_STATES,
    is_rendered_later,
    normalize_expected_states,
)

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context
    from airflow_provider_fivetran_update.waiting import WaitCondition

__all__ = ["FivetranConnectionStateSensor"]


class FivetranConnectionStateSensor(FivetranConnectionByName, BaseSensorOperator):
    """Wait until a Fivetran connection is in the expected setup state and sync state.

    Each poke reads ``GET /v1/connections/{connection_id}`` and compares ``status.setup_state`` and
    ``status.sync_state`` with what is expected. Nothing is kept between pokes, so ``mode="poke"``,
    ``mode="reschedule"`` and ``deferrable=True`` behave the same. With ``deferrable=True`` the sensor
    pokes once and defers to
    :class:`~airflow_provider_fivetran_update.triggers.fivetran.FivetranConnectionStateTrigger` only
    when the state is not reached yet; the trigger gets the sensor's ``timeout`` as an absolute
    deadline, so the timeout holds while deferred.

    A connection whose ``setup_state`` is ``broken`` fails the task at once (no retry, no waiting
    for the timeout) unless ``fail_on_broken=False`` or ``"broken"`` is an expected setup state. The
    error names the failed setup tests and Fivetran's warnings and tasks. With ``soft_fail=True`` the
    task is skipped instead, as it is on timeout.

    The sensor returns (XCom ``return_value``) the connection's state when it was reached::

        {"connection_id": "decent_dropsy", "service": "postgres", "paused": False,
         "setup_state": "connected", "sync_state": "scheduled", "update_state": "on_schedule",
         "is_historical_sync": False, "rescheduled_for": None,
         "succeeded_at": "2026-01-01T00:00:00Z", "failed_at": None}

    and pushes the dashboard URL that the "Fivetran" extra link opens.

    An expected state is one value, a list of values, a comma-separated string of values (what a
    template renders to, e.g. ``"scheduled,syncing"``), or ``None`` for any value. Values are
    matched case-insensitively; an unknown value fails the task (or the DAG parse, when the value
    is not templated) naming the argument and the allowed values.

    :param connection_id: the id of the Fivetran connection, for example ``"decent_dropsy"``. Templated.
    :param connection_name: instead of ``connection_id``: the connection's name (its destination
        schema), looked up when the task runs (see docs/sync-operators.md). Templated.
    :param group_id: with ``connection_name``: the destination's group to look in. Templated.
    :param fivetran_conn_id: the Airflow connection with the Fivetran API key and secret. Templated.
    :param expected_setup_state: accepted ``setup_state`` values: ``"incomplete"``, ``"connected"``,
        ``"broken"``; ``None`` for any (a broken connection still fails while ``fail_on_broken``).
        Templated. Default ``"connected"``.
    :param expected_sync_state: accepted ``sync_state`` values: ``"scheduled"``, ``"syncing"``,
        ``"paused"``, ``"rescheduled"``; ``None`` (the default) for any. Templated.
    :param fail_on_broken: fail at once when the setup state is ``broken`` and ``"broken"`` is not
        expected. With ``False``, a broken connection is simply not ready yet.
    :param deferrable: wait in the triggerer instead of a worker slot. Defaults to the
        ``[operators] default_deferrable`` option.
    :param request_timeout: seconds to wait for Fivetran's answer to one request (the sensor's own
        ``timeout`` is how long to wait for the state).
    :param max_retries: how often one request Fivetran answered with 429 or 5xx, or did not answer,
        is retried before the poke fails.
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` header wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds; a longer
        ``Retry-After`` fails the poke at once, and one past the timeout times the sensor out (see
        ``docs/guarantees.md``).
    """

    template_fields: Sequence[str] = (
        "connection_id",
        "connection_name",
        "group_id",
        "fivetran_conn_id",
        "expected_setup_state",
        "expected_sync_state",
    )
    operator_extra_links = (FivetranConnectionLink(),)
    ui_color = "#0073FF"

    def __init__(
        self,
        *,
        connection_id: str | None = None,
        connection_name: str | None = None,
        group_id: str | None = None,
        fivetran_conn_id: str = DEFAULT_CONN_ID,
        expected_setup_state: str | Collection[str] | None = "connected",
        expected_sync_state: str | Collection[str] | None = None,
        fail_on_broken: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        request_timeout: float = 30.0,
        max_retries: int = 5,
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_connection_target(
            self.task_id, connection_id=connection_id, connection_name=connection_name, group_id=group_id
        )
        # Literal values are checked now, so a typo fails the DAG parse; templated ones in execute().
        for argument, value, allowed in (
            ("expected_setup_state", expected_setup_state, SETUP_STATES),
            ("expected_sync_state", expected_sync_state, SYNC_STATES),
        ):
            if not is_rendered_later(value):
                normalize_expected_states(argument, value, allowed)
        self.set_hook_options(
            self.task_id,
            fivetran_conn_id=fivetran_conn_id,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_min_wait=retry_min_wait,
            retry_max_wait=retry_max_wait,
        )
        self.expected_setup_state = expected_setup_state
        self.expected_sync_state = expected_sync_state
        self.fail_on_broken = fail_on_broken
        self.deferrable = deferrable

    def _condition(self) -> WaitCondition:
        """The rendered expectations, validated, as the wait's condition."""
        from airflow_provider_fivetran_update.waiting import WaitCondition

        return WaitCondition.state(
            expected_setup_state=self.expected_setup_state,
            expected_sync_state=self.expected_sync_state,
            fail_on_broken=self.fail_on_broken,
        )

    def execute(self, context: Context) -> Any:
        """Validate the rendered arguments, publish the dashboard link, then wait (see the class doc)."""
        self.connection_id = self.resolve_connection_id(context)
        self._condition()
        context["ti"].xcom_push(
            key=DASHBOARD_URL_XCOM_KEY, value=connection_dashboard_url(self.connection_id)
        )
        # Fixed before the first poke and counted as Airflow counts the timeout (from the first
        # try in reschedule mode), so every read and a deferred wait end when the timeout does.
        started = first_reschedule_date(context, self.retries or 0) if self.reschedule else None
        self._deadline = (started.timestamp() if started else time.time()) + self.timeout
        return super().execute(context)

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the connection once; done when the state is reached, fail at once when broken.

        Each read is bounded by the sensor's deadline (see
        :mod:`~airflow_provider_fivetran_update.waiting`); a ``Retry-After`` that ends after it
        raises :class:`AirflowSensorTimeout` at once. In deferrable mode a poke that is not done
        defers to the trigger. Deferring from here, inside ``BaseSensorOperator.execute``, lets the
        first poke get exactly the base class's ``soft_fail`` / ``never_fail`` / ``silent_fail``
        handling that every poke-mode poke gets.
        """
        from airflow_provider_fivetran_update.waiting import poke_in_task, settle

        result = poke_in_task(
            self,
            context,
            self.connection_id,
            self._condition(),
            deadline=getattr(self, "_deadline", time.time() + self.timeout),
            poll_interval=self.poke_interval,
        )
        if result is None:
            return PokeReturnValue(is_done=False)
        state = settle(result, connection_id=self.connection_id, timeout_error=AirflowSensorTimeout).state
        return PokeReturnValue(is_done=True, xcom_value=state)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the state on success, raise on anything else.

        ``timeout`` raises :class:`AirflowSensorTimeout`, ``failed`` (broken) raises
        :class:`AirflowFailException`; both end the task without retries. ``error`` raises
        :class:`~airflow_provider_fivetran_update.exceptions.FivetranError`, which Airflow retries.
        With ``soft_fail=True`` Airflow turns each of them into a skip. A retry that Airflow
        resumes here with the event of the try that deferred starts over.
        """
        from airflow_provider_fivetran_update.waiting import replays_an_earlier_try, settle

        if replays_an_earlier_try(self, context):
            return self.execute(context)
        result = settle(event, connection_id=self.connection_id, timeout_error=AirflowSensorTimeout)
        self.log.info("%s", result.message)
        return result.state or {}
