"""Sensor that waits until a sync of a Fivetran connection completes after a given moment."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import (
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
    first_reschedule_date,
)
from airflow_provider_fivetran_update.by_name import FivetranConnectionByName
from airflow_provider_fivetran_update.exceptions import FivetranError
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID
from airflow_provider_fivetran_update.links import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    connection_dashboard_url,
)
from airflow_provider_fivetran_update.operators.sync import sync_succeeded
from airflow_provider_fivetran_update.states import is_rendered_later
from airflow_provider_fivetran_update.syncing import check_astronomer_arguments, completed_after_epoch

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context
    from airflow_provider_fivetran_update.waiting import WaitCondition

__all__ = ["FivetranSyncCompletedSensor"]


class FivetranSyncCompletedSensor(FivetranConnectionByName, BaseSensorOperator):
    """Wait until a sync of a Fivetran connection completes after a given moment.

    Each poke reads ``GET /v1/connections/{id}``. The sensor succeeds when Fivetran reports a
    ``succeeded_at`` later than ``completed_after`` (default: the start of the run's data
    interval), whoever started the sync: Fivetran's schedule, another DAG, a person. With
    ``fail_on_sync_failure=True`` (the default) a ``failed_at`` later than that moment fails the
    task at once (no retry) with Fivetran's status tasks and warnings; with ``False`` the sensor
    waits for a later success. A paused or broken connection fails at once: no sync would
    complete. A ``rescheduled`` sync is waited for.

    The moment is a plain value (rendered from the template, or the data interval), so it is the
    same in every poke, reschedule and deferral, and timestamps decide: a sync that completes
    between two pokes is not missed. ``mode="poke"``, ``mode="reschedule"`` and
    ``deferrable=True`` behave the same; a deferred sensor pokes once first and hands the trigger
    an absolute deadline, so ``timeout`` holds while deferred.

    Returns the connection (secrets masked) with a ``"sync"`` key (``status``, ``completed_after``,
    ``succeeded_at``, ``failed_at``) and shows the "Fivetran" extra link.

    .. seealso::
        docs/sync-operators.md

    :param connection_id: the Fivetran connection's id. Templated.
    :param connection_name: instead of ``connection_id``: the connection's name (its destination
        schema), looked up when the task runs. Templated.
    :param group_id: with ``connection_name``: the group (destination) to look in. Templated.
    :param completed_after: only a sync that completes after this moment counts: a datetime, an
        ISO 8601 text (e.g. ``"{{ data_interval_end }}"``) or epoch seconds. Default: the start of
        the data interval (or, for a run without one, the moment the DAG run started). Templated.
    :param fail_on_sync_failure: fail at once when a sync fails after that moment.
    :param deferrable: wait in the triggerer instead of a worker slot. Defaults to the
        ``[operators] default_deferrable`` option.
    :param fivetran_conn_id: the Airflow connection with the Fivetran API key and secret. Templated.
    :param request_timeout: seconds to wait for Fivetran's answer to one request.
    :param max_retries: how often one request answered with 429 or 5xx, or not answered, is retried.
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` header wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    """

    template_fields: Sequence[str] = (
        "connection_id",
        "connection_name",
        "group_id",
        "completed_after",
        "fivetran_conn_id",
    )
    operator_extra_links = (FivetranConnectionLink(),)
    ui_color = "#0073FF"

    def __init__(
        self,
        *,
        connection_id: str | None = None,
        connection_name: str | None = None,
        group_id: str | None = None,
        completed_after: datetime | str | float | None = None,
        fail_on_sync_failure: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        fivetran_conn_id: str = DEFAULT_CONN_ID,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 60.0,
        **kwargs: Any,
    ) -> None:
        check_astronomer_arguments(type(self).__name__, kwargs.get("task_id"), kwargs)
        super().__init__(**kwargs)
        self.set_connection_target(
            self.task_id, connection_id=connection_id, connection_name=connection_name, group_id=group_id
        )
        self.set_hook_options(
            self.task_id,
            fivetran_conn_id=fivetran_conn_id,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_min_wait=retry_min_wait,
            retry_max_wait=retry_max_wait,
        )
        if completed_after is not None and not is_rendered_later(completed_after):
            try:
                completed_after_epoch(completed_after)
            except ValueError as error:
                raise ValueError(f"{self.task_id}: {error}") from None
        self.completed_after = completed_after
        self.fail_on_sync_failure = fail_on_sync_failure
        self.deferrable = deferrable

    def _baseline(self, context: Context) -> float:
        """Epoch seconds after which a completed sync counts (the same in every poke)."""
        if self.completed_after is not None and self.completed_after != "":
            return completed_after_epoch(self.completed_after)
        start = context.get("data_interval_start")
        if start is None:
            dag_run = context.get("dag_run")
            start = getattr(dag_run, "start_date", None)
        if start is None:
            raise FivetranError(
                "This run has no data interval and no start date; pass completed_after "
                "(for example '{{ logical_date }}') to say after which moment a sync counts."
            )
        return completed_after_epoch(start)

    def execute(self, context: Context) -> Any:
        """Resolve the connection, fix the moment, publish the link, then poke (see the class doc)."""
        connection_id = self.resolve_connection_id(context)
        self._completed_after = self._baseline(context)
        context["ti"].xcom_push(key=DASHBOARD_URL_XCOM_KEY, value=connection_dashboard_url(connection_id))
        # Counted as Airflow counts the timeout (from the first try in reschedule mode), so every
        # read and a deferred wait end when the timeout does.
        started = first_reschedule_date(context, self.retries or 0) if self.reschedule else None
        self._deadline = (started.timestamp() if started else time.time()) + self.timeout
        return super().execute(context)

    def _condition(self, completed_after: float) -> WaitCondition:
        from airflow_provider_fivetran_update.waiting import WaitCondition

        return WaitCondition.sync_completed(
            completed_after=completed_after, fail_on_sync_failure=self.fail_on_sync_failure
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the connection once: done when a sync completed after the moment; fail at once on failure.

        In deferrable mode a poke that is not done defers to the trigger, with the same deadline.
        """
        from airflow_provider_fivetran_update.waiting import poke_in_task

        connection_id = str(self.connection_id)
        result = poke_in_task(
            self,
            context,
            connection_id,
            self._condition(self._completed_after),
            deadline=getattr(self, "_deadline", time.time() + self.timeout),
            poll_interval=self.poke_interval,
        )
        if result is None:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(
            is_done=True, xcom_value=self._result(result, connection_id, self._completed_after)
        )

    def _result(self, end: Any, connection_id: str, completed_after: float) -> dict[str, Any]:
        """The value once the wait ended (a wait result or a trigger event); raises unless success."""
        return sync_succeeded(
            end,
            connection_id=connection_id,
            completed_after=completed_after,
            requested_at=None,
            timeout_error=AirflowSensorTimeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the connection on success, raise on anything else.

        ``failed`` raises :class:`AirflowFailException`, ``timeout`` :class:`AirflowSensorTimeout`
        (neither is retried); ``error`` raises a retryable
        :class:`~airflow_provider_fivetran_update.exceptions.FivetranError`. A retry that Airflow
        resumes here with the event of the try that deferred starts over.
        """
        from airflow_provider_fivetran_update.waiting import replays_an_earlier_try

        if replays_an_earlier_try(self, context):
            return self.execute(context)
        # Rendered again on resume, so the moment is the one fixed before deferring.
        return self._result(
            event, str(event.get("connection_id") if event else self.connection_id), self._baseline(context)
        )
