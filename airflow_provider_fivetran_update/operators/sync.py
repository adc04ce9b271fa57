"""Operators that start a sync or a historical re-sync of a Fivetran connection and wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import AirflowFailException, BaseOperator, conf, try_number
from airflow_provider_fivetran_update.by_name import FivetranConnectionByName
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID
from airflow_provider_fivetran_update.links import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    connection_dashboard_url,
)
from airflow_provider_fivetran_update.redaction import redact
from airflow_provider_fivetran_update.states import (
    describe_problems,
    format_epoch,
    historical_sync_anchor,
    is_rendered_later,
)
from airflow_provider_fivetran_update.syncing import check_astronomer_arguments, normalize_resync_scope

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context

__all__ = ["SYNC_RESULT_KEY", "FivetranResyncConnectionOperator", "FivetranSyncConnectionOperator"]

SYNC_RESULT_KEY = "sync"
"""The key the sync operators and the sync sensor add to the connection they return: the outcome."""

SYNC_REQUEST_XCOM_KEY = "fivetran_sync_request"
"""XCom key of what a sync operator requested: ``connection_id``, ``requested_at`` and ``completed_after``
(epoch seconds), and the ``try_number`` that requested it. Pushed before the wait, so a resumed
deferral (and a downstream task) finds it."""

_DEFAULT_TIMEOUT = 7 * 24 * 60 * 60.0  # as BaseSensorOperator's: historical re-syncs can take days


def sync_outcome(
    status: str, connection: Mapping[str, Any], *, completed_after: float, requested_at: float | None
) -> dict[str, Any]:
    """The ``"sync"`` part of a returned value: what was asked, from when, and how it ended."""
    return {
        "status": status,
        "requested_at": None if requested_at is None else format_epoch(requested_at),
        "completed_after": format_epoch(completed_after),
        "succeeded_at": connection.get("succeeded_at"),
        "failed_at": connection.get("failed_at"),
    }


def sync_result(connection: Mapping[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """The connection, secrets masked, with its ``"sync"`` outcome: what the tasks return (XCom)."""
    result = redact(connection)
    result[SYNC_RESULT_KEY] = outcome
    return result


def sync_succeeded(
    end: Any,
    *,
    connection_id: str,
    completed_after: float,
    requested_at: float | None,
    timeout_error: Callable[[str], BaseException],
) -> dict[str, Any]:
    """The value of a sync wait that ended (a wait result or a trigger event); raises unless success."""
    from airflow_provider_fivetran_update.waiting import settle

    connection = settle(end, connection_id=connection_id, timeout_error=timeout_error).connection or {}
    return sync_result(
        connection,
        sync_outcome("succeeded", connection, completed_after=completed_after, requested_at=requested_at),
    )


class _FivetranSyncOperatorBase(FivetranConnectionByName, BaseOperator):
    """What the sync and re-sync operators share: the connection, the checks, the request, the wait."""

    template_fields: Sequence[str] = ("connection_id", "connection_name", "group_id", "fivetran_conn_id")
    operator_extra_links = (FivetranConnectionLink(),)
    ui_color = "#0073FF"

    _what = "sync"

    def __init__(
        self,
        *,
        connection_id: str | None = None,
        connection_name: str | None = None,
        group_id: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30.0,
        timeout: float = _DEFAULT_TIMEOUT,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        resume_if_paused: bool = False,
        recover_broken: bool = False,
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
        if poll_interval <= 0:
            raise ValueError(f"{self.task_id}: poll_interval must be positive, got {poll_interval}.")
        if timeout <= 0:
            raise ValueError(f"{self.task_id}: timeout must be a positive number of seconds, got {timeout}.")
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        self.resume_if_paused = resume_if_paused
        self.recover_broken = recover_broken

    # -- what a subclass does -------------------------------------------------------------------

    def check_rendered(self) -> None:
        """Check the rendered arguments of the request; raise before anything is sent."""

    def send(self, connection_id: str) -> None:
        """Send the request that starts the sync."""
        raise NotImplementedError

    def pending(self, connection: Mapping[str, Any]) -> bool:
        """Whether ``connection`` shows a sync of this kind pending or running (a retry then waits)."""
        return (connection.get("status") or {}).get("sync_state") == "syncing"

    # -- the run --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Check, read, prepare (resume, recover), request once, then wait; see the class doc."""
        connection_id = self.resolve_connection_id(context)
        self.check_rendered()
        ti = context["ti"]
        ti.xcom_push(key=DASHBOARD_URL_XCOM_KEY, value=connection_dashboard_url(connection_id))
        current = self.hook.get_connection_details(connection_id)
        current = self._ready(connection_id, current)

        requested_at: float | None = None
        this_try = try_number(context)
        if this_try > 1 and self.pending(current):
            self.log.info(
                "This is a retry, and Fivetran connection %s already reports a %s pending or running, "
                "likely the one an earlier try requested. It is not requested again (that would "
                "restart it); this try waits for it.",
                connection_id,
                self._what,
            )
        else:
            # Read before the request leaves: a sync cannot end before it was requested.
            requested_at = time.time()
            self.send(connection_id)
            self.log.info("Requested a %s of Fivetran connection %s.", self._what, connection_id)
        completed_after = historical_sync_anchor(current, requested_at=requested_at)
        ti.xcom_push(
            key=SYNC_REQUEST_XCOM_KEY,
            value={
                "connection_id": connection_id,
                "requested_at": requested_at,
                "completed_after": completed_after,
                "try_number": this_try,
            },
        )
        if not self.wait_for_completion:
            return sync_result(
                current,
                sync_outcome(
                    "requested", current, completed_after=completed_after, requested_at=requested_at
                ),
            )
        return self._wait(context, connection_id, current, completed_after, requested_at)

    def _ready(self, connection_id: str, connection: dict[str, Any]) -> dict[str, Any]:
        """Resume a paused connection or repair a broken one when asked; otherwise fail at once."""
        status = connection.get("status") or {}
        if connection.get("paused") is True:
            if not self.resume_if_paused:
                raise AirflowFailException(
                    f"Fivetran connection {connection_id!r} is paused, so a {self._what} would not run; "
                    "nothing was requested. Resume it in the Fivetran dashboard, or pass "
                    "resume_if_paused=True to let this task resume it, then clear this task."
                )
            self.log.info(
                "Fivetran connection %s is paused; resuming it (resume_if_paused=True).", connection_id
            )
            connection = self.hook.update_connection(connection_id, paused=False)
            status = connection.get("status") or {}
        if status.get("setup_state") == "broken":
            if not self.recover_broken:
                problems = (
                    describe_problems(connection) or "Fivetran reports no failed setup test or warning."
                )
                raise AirflowFailException(
                    f"Fivetran connection {connection_id!r} is broken, so a {self._what} would fail; "
                    f"nothing was requested. {problems} Fix it in the Fivetran dashboard, or pass "
                    "recover_broken=True to run the setup tests first, then clear this task."
                )
            self.log.info(
                "Fivetran connection %s is broken; running its setup tests (recover_broken=True).",
                connection_id,
            )
            connection = self.hook.run_setup_tests(connection_id)
            if (connection.get("status") or {}).get("setup_state") == "broken":
                problems = (
                    describe_problems(connection) or "Fivetran reports no failed setup test or warning."
                )
                raise AirflowFailException(
                    f"Fivetran connection {connection_id!r} is still broken after its setup tests, so "
                    f"no {self._what} was requested. {problems} Fix the cause in the Fivetran "
                    "dashboard (the connection's Setup tab), then clear this task."
                )
            self.log.info("Fivetran connection %s passed its setup tests.", connection_id)
        return connection

    def _wait(
        self,
        context: Context,
        connection_id: str,
        known: dict[str, Any],
        completed_after: float,
        requested_at: float | None,
    ) -> dict[str, Any]:
        """Wait in the worker, or defer; ``known`` (read before the request) is judged first, unread."""
        from airflow_provider_fivetran_update.waiting import WaitCondition, wait_in_task

        result = wait_in_task(
            self,
            context,
            connection_id,
            WaitCondition.sync_completed(completed_after=completed_after),
            deadline=time.time() + self.timeout,
            poll_interval=self.poll_interval,
            known=known,
        )
        return self._outcome(result, connection_id, completed_after, requested_at)

    def _outcome(
        self, end: Any, connection_id: str, completed_after: float, requested_at: float | None
    ) -> dict[str, Any]:
        """The task's result once the wait ended (a wait result or a trigger event); raises unless success."""
        return sync_succeeded(
            end,
            connection_id=connection_id,
            completed_after=completed_after,
            requested_at=requested_at,
            timeout_error=self._timeout_error,
        )

    def _timeout_error(self, last: str) -> AirflowFailException:
        """A wait that timed out: final (no retry), saying what was seen last and what to do."""
        return AirflowFailException(
            f"Timed out after {self.timeout:g} s waiting for the {self._what} to complete: {last} It may "
            "still be running in Fivetran; clearing this task waits for it again without requesting "
            "another one while it runs."
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the connection on success, raise on anything else.

        A retry that Airflow resumes here with the event of the try that deferred starts over.
        """
        from airflow_provider_fivetran_update.waiting import replays_an_earlier_try

        if replays_an_earlier_try(self, context):
            return self.execute(context)
        ti = context["ti"]
        # What execute() pushed: Airflow keeps a task's XComs while it is deferred.
        request = ti.xcom_pull(task_ids=ti.task_id, key=SYNC_REQUEST_XCOM_KEY, map_indexes=ti.map_index) or {}
        return self._outcome(
            event,
            str(request.get("connection_id") or self.connection_id),
            float(request.get("completed_after") or 0.0),
            request.get("requested_at"),
        )


class FivetranSyncConnectionOperator(_FivetranSyncOperatorBase):
    """Start a sync of a Fivetran connection now (``POST /v1/connections/{id}/sync``) and wait for it.

    The connection is read first (one GET): a paused connection fails the task at once, before
    anything is sent (or, with ``resume_if_paused=True``, is resumed first); a broken one fails at
    once too (or, with ``recover_broken=True``, runs its setup tests first and fails if it stays
    broken). The connection's schedule is never changed.

    By default the task then waits until a sync completes after the request: a ``succeeded_at``
    later than the request succeeds, a ``failed_at`` later than it fails the task at once (no
    retry) with Fivetran's status tasks and warnings. Fivetran's own timestamps decide, so a sync
    that ends between two reads is not missed; the moment they are compared with is fixed once,
    before the request, and carried into the triggerer. A ``rescheduled`` sync (Fivetran waits
    for a source limit, until ``status.rescheduled_for``) is waited for, up to ``timeout``.

    A retry (or a cleared task) that finds a sync still running does not request another one: it
    waits for the running one.

    Returns the connection (secrets masked) with a ``"sync"`` key: ``status`` (``"succeeded"``,
    or ``"requested"`` without waiting), ``requested_at``, ``completed_after``, ``succeeded_at``
    and ``failed_at``. The "Fivetran" extra link opens the connection's dashboard page.

    .. seealso::
        docs/sync-operators.md, and Fivetran's reference:
        https://fivetran.com/docs/rest-api/api-reference/connections/sync-connection

    :param connection_id: the Fivetran connection's id, e.g. ``"decent_dropsy"``. Templated.
    :param connection_name: instead of ``connection_id``: the connection's name (its destination
        schema), looked up when the task runs. Templated.
    :param group_id: with ``connection_name``: the group (destination) to look in; needed when the
        name exists in several destinations. Templated.
    :param force: restart a sync that is already running (Fivetran's ``force``); otherwise Fivetran
        lets the running sync finish, and its end counts.
    :param wait_for_completion: wait until the sync has completed (default ``True``).
    :param poll_interval: seconds between two reads while waiting.
    :param timeout: seconds to wait at most; then the task fails.
    :param deferrable: wait in the triggerer instead of a worker slot. Defaults to the
        ``[operators] default_deferrable`` option.
    :param resume_if_paused: resume a paused connection (``PATCH paused=false``) before the sync.
    :param recover_broken: run the setup tests of a broken connection before the sync.
    :param fivetran_conn_id: the Airflow connection with the Fivetran API key and secret. Templated.
    :param request_timeout: seconds to wait for Fivetran's answer to one request.
    :param max_retries: how often one request answered with 429 or 5xx, or not answered, is retried.
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` header wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    """

    def __init__(self, *, force: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.force = force

    def send(self, connection_id: str) -> None:
        self.hook.sync_connection(connection_id, force=self.force)


class FivetranResyncConnectionOperator(_FivetranSyncOperatorBase):
    """Start a historical re-sync (``POST /v1/connections/{id}/resync``), of some tables or all, and wait.

    Everything :class:`FivetranSyncConnectionOperator` does (reading first, paused and broken
    connections, waiting, the returned value), with a re-sync instead of a sync. ``scope`` limits
    it to some tables, ``{"schema": ["table", ...]}``; it is checked before anything is sent.

    A re-sync is never requested twice: a request that may have reached Fivetran is not sent
    again by the hook, and a retry (or a cleared task) that finds Fivetran still reporting a
    historical sync pending or running (``status.is_historical_sync``) waits for it instead.

    .. seealso::
        docs/sync-operators.md, and Fivetran's reference:
        https://fivetran.com/docs/rest-api/api-reference/connections/resync-connection

    :param scope: the tables to re-sync, ``{"schema_name": ["table", ...]}`` (a dict or its JSON
        text); ``None`` re-syncs every table. Templated.

    The other parameters are those of :class:`FivetranSyncConnectionOperator` (without ``force``).
    """

    template_fields: Sequence[str] = (*_FivetranSyncOperatorBase.template_fields, "scope")
    template_fields_renderers = {"scope": "json"}
    _what = "re-sync"

    def __init__(self, *, scope: Mapping[str, Sequence[str]] | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_rendered_later(scope):
            try:
                normalize_resync_scope(scope)
            except ValueError as error:
                raise ValueError(f"{self.task_id}: {error}") from None
        self.scope = scope

    def check_rendered(self) -> None:
        normalize_resync_scope(self.scope)

    def send(self, connection_id: str) -> None:
        self.hook.resync_connection(connection_id, scope=self.scope)

    def pending(self, connection: Mapping[str, Any]) -> bool:
        status = connection.get("status") or {}
        return status.get("is_historical_sync") is True or status.get("sync_state") == "syncing"
