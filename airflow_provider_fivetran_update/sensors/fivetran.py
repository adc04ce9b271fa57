"""Sensor that waits for a Fivetran connection to reach a setup state and a sync state."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_provider_fivetran_update.exceptions import FivetranError
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID, FivetranHookOptions
from airflow_provider_fivetran_update.operators.fivetran import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    connection_dashboard_url,
)
from airflow_provider_fivetran_update.states import (
    SETUP_STATES,
    SYNC_STATES,
    check_connection_state,
    is_rendered_later,
    normalize_expected_states,
)

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context

__all__ = ["FivetranConnectionStateSensor"]


class FivetranConnectionStateSensor(FivetranHookOptions, BaseSensorOperator):
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
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    """

    template_fields: Sequence[str] = (
        "connection_id",
        "fivetran_conn_id",
        "expected_setup_state",
        "expected_sync_state",
    )
    operator_extra_links = (FivetranConnectionLink(),)
    ui_color = "#0073FF"

    def __init__(
        self,
        *,
        connection_id: str,
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
        if isinstance(connection_id, str) and not connection_id.strip():
            raise ValueError(f"{self.task_id}: connection_id must name a Fivetran connection, got ''.")
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
        self.connection_id = connection_id
        self.expected_setup_state = expected_setup_state
        self.expected_sync_state = expected_sync_state
        self.fail_on_broken = fail_on_broken
        self.deferrable = deferrable

    def _expected_states(self) -> tuple[list[str] | None, list[str] | None]:
        """The rendered expectations, validated."""
        return (
            normalize_expected_states("expected_setup_state", self.expected_setup_state, SETUP_STATES),
            normalize_expected_states("expected_sync_state", self.expected_sync_state, SYNC_STATES),
        )

    def execute(self, context: Context) -> Any:
        """Validate the rendered arguments, publish the dashboard link, then wait (see the class doc)."""
        if not isinstance(self.connection_id, str) or not self.connection_id.strip():
            raise FivetranError(
                f"connection_id must be the id of a Fivetran connection, got {self.connection_id!r}."
            )
        self._expected_states()
        context["ti"].xcom_push(
            key=DASHBOARD_URL_XCOM_KEY, value=connection_dashboard_url({"id": self.connection_id})
        )
        # Fixed before the first poke, like the poke-mode clock, so the deferred wait ends when a
        # poke-mode wait would have.
        self._deadline = time.time() + self.timeout
        return super().execute(context)

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the connection once; done when the state is reached, fail at once when broken.

        In deferrable mode a poke that is not done defers to the trigger. Deferring from here,
        inside ``BaseSensorOperator.execute``, lets the first poke get exactly the base class's
        ``soft_fail`` / ``never_fail`` / ``silent_fail`` handling that every poke-mode poke gets.
        """
        expected_setup_state, expected_sync_state = self._expected_states()
        connection = self.hook.get_connection_details(self.connection_id)
        check = check_connection_state(
            self.connection_id,
            connection,
            expected_setup_state=expected_setup_state,
            expected_sync_state=expected_sync_state,
            fail_on_broken=self.fail_on_broken,
        )
        self.log.info("%s", check.message)
        if check.outcome == "broken":
            raise AirflowFailException(check.message)
        if check.outcome == "satisfied":
            return PokeReturnValue(is_done=True, xcom_value=check.state)
        if self.deferrable:
            # Imported here: the trigger module loads Airflow's trigger machinery, which parsing a
            # DAG file that declares this sensor does not need.
            from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger

            self.defer(
                trigger=FivetranConnectionStateTrigger(
                    connection_id=self.connection_id,
                    end_time=getattr(self, "_deadline", time.time() + self.timeout),
                    expected_setup_state=expected_setup_state,
                    expected_sync_state=expected_sync_state,
                    fail_on_broken=self.fail_on_broken,
                    poll_interval=self.poke_interval,
                    # This poke just read the connection: the trigger's first read can wait.
                    first_poll_at=time.time() + self.poke_interval,
                    **self.hook_options(),
                ),
                method_name="execute_complete",
                timeout=self.execution_timeout,
            )
        return PokeReturnValue(is_done=False)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the state on success, raise on anything else.

        ``timeout`` raises :class:`AirflowSensorTimeout`, ``failed`` (broken) raises
        :class:`AirflowFailException`; both end the task without retries. ``error`` raises
        :class:`~airflow_provider_fivetran_update.exceptions.FivetranError`, which Airflow retries.
        With ``soft_fail=True`` Airflow turns each of them into a skip.
        """
        if not event or "status" not in event:
            raise FivetranError(
                f"The trigger for Fivetran connection {self.connection_id!r} ended without an event."
            )
        status, message = event["status"], str(event.get("message", ""))
        if status == "success":
            self.log.info("%s", message)
            state: dict[str, Any] = event["state"]
            return state
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        if status == "failed":
            raise AirflowFailException(message)
        raise FivetranError(message)
