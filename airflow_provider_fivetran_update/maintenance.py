"""Pause Fivetran connections around a piece of work, then restore them exactly as they were.

:func:`fivetran_maintenance_window` is a context manager. The tasks created inside its block are
the *work*; the window adds a task group around them:

.. code-block:: text

    fivetran_maintenance
      record ──> pause[i] (setup) ──> wait_paused[i] ──> <the work> ──> restore[i] (teardown)

* ``record`` reads each connection once (``GET``) and returns, by XCom, ``[{"connection_id",
  "paused", "sync_state"}, ...]``: no ``config``, no ``auth``, nothing secret.
* ``pause`` (one mapped task per connection, an Airflow *setup* task) pauses the connections that
  were running (``PATCH {"paused": true}``); it leaves the paused ones alone and sends nothing.
* ``wait_paused`` (mapped) waits until Fivetran reports ``sync_state == "paused"``. The pause's own
  answer usually says so already, so it usually sends nothing.
* ``restore`` (mapped, an Airflow *teardown* task with ``on_failure_fail_dagrun=True``) runs after
  the work whatever happened to it (success, failure, skip) and unpauses only the connections that
  were running before, then waits until they are ``scheduled``, ``syncing`` or ``rescheduled``.

Per connection that is one ``GET`` and, if it was running, two ``PATCH`` requests; waits add a
``GET`` per poll only when an answer did not already show the state. The DAG run still ends
``failed`` when the work fails (Airflow judges the run by the work, not by teardowns), and a restore
that fails fails the run too.

Example::

    from datetime import datetime

    from airflow.sdk import DAG, task

    from airflow_provider_fivetran_update.maintenance import fivetran_maintenance_window

    with DAG("db_upgrade", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def upgrade_database() -> None:
            ...  # the connections do not sync while this runs

        @task
        def announce() -> None:
            ...  # runs once the connections are restored

        with fivetran_maintenance_window(["orders_pg", "billing_pg"], poll_interval=10) as window:
            upgrade_database()
        window >> announce()

The ids may also be a Jinja template (``"{{ params.connection_ids }}"``; it may render to a list,
a JSON list or a comma-separated string) or an upstream task's ``XComArg``; the mapped tasks scale
to hundreds of connections.

The record is made once, before anything is paused, and travels by XCom, so retrying the pause
(or clearing the work, which clears its setup ``pause`` and teardown ``restore`` but not
``record``) never mistakes a connection the window paused for one that was paused before it.
Do not clear ``record`` itself while connections are still paused by the window: it would record
them as paused.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Collection, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import AirflowFailException, BaseOperator, TaskGroup, conf
from airflow_provider_fivetran_update.exceptions import FivetranError, FivetranValidationError
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.ids import check_connection_id

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import AbstractOperator, Context

__all__ = ["RUNNING_SYNC_STATES", "fivetran_maintenance_window", "parse_connection_ids"]

RUNNING_SYNC_STATES: tuple[str, ...] = ("scheduled", "syncing", "rescheduled")
"""The ``sync_state`` values that count as "running again" after a restore."""

_PAUSED_SYNC_STATES: tuple[str, ...] = ("paused",)
_MAP_INDEX_TEMPLATE = "{{ task.record.connection_id }}"
_UI_COLOR = "#0073FF"


def parse_connection_ids(value: Any) -> list[str]:
    """Turn the window's ``connection_ids`` (as rendered or pulled from XCom) into a list of ids.

    Accepts a list or tuple of ids, a JSON list (``'["a", "b"]'``), a Python list literal (what
    ``"{{ params.connection_ids }}"`` renders to without native rendering), a comma-separated
    string (``"a, b"``) or one id. Blanks around ids are dropped and duplicates removed, keeping
    the first. Raises :class:`~airflow_provider_fivetran_update.exceptions.FivetranValidationError`
    when no id is given or an id is not a non-empty string without whitespace.
    """
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                try:
                    items = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise FivetranValidationError(
                        "connection_ids", f"{text[:200]!r} is neither a JSON nor a Python list."
                    ) from None
        else:
            items = [piece for piece in text.split(",") if piece.strip()]
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Collection):
        raise FivetranValidationError(
            "connection_ids",
            f"expected a list of Fivetran connection ids or a string of them, got {type(value).__name__}.",
        )
    ids: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip() or any(char.isspace() for char in item.strip()):
            raise FivetranValidationError(
                "connection_ids", f"{item!r} is not a Fivetran connection id (a non-empty string)."
            )
        check_connection_id(item.strip(), "connection_ids")
        if item.strip() not in ids:
            ids.append(item.strip())
    if not ids:
        raise FivetranValidationError("connection_ids", "no Fivetran connection id given.")
    return ids


def _is_rendered_later(value: Any) -> bool:
    """Whether ``value`` can only be read at run time (a template or an XComArg)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple)):
        return any(_is_rendered_later(item) for item in value if isinstance(item, str))
    return True


def _record_of(connection_id: str, connection: Mapping[str, Any]) -> dict[str, Any]:
    """What the window keeps of a GET or PATCH answer: id, ``paused`` and ``sync_state`` only."""
    status = connection.get("status") or {}
    return {
        "connection_id": connection_id,
        "paused": connection.get("paused"),
        "sync_state": status.get("sync_state"),
    }


class _WindowStep(BaseOperator):
    """What the window's tasks share: the hook and a bounded wait (polling or deferred)."""

    ui_color = _UI_COLOR

    def __init__(
        self,
        *,
        fivetran_conn_id: str,
        deferrable: bool,
        poll_interval: float,
        wait_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fivetran_conn_id = fivetran_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout

    @cached_property
    def hook(self) -> FivetranHook:
        """The Fivetran hook for ``fivetran_conn_id`` (created on first use, never while parsing)."""
        return FivetranHook(self.fivetran_conn_id)

    def _wait_for(self, known: dict[str, Any], expected: Sequence[str]) -> dict[str, Any]:
        """Return once the connection's ``sync_state`` is one of ``expected``; fail at the timeout.

        ``known`` is the last answer's record: when it already shows an expected state, nothing
        is sent. In deferrable mode the task defers to the state trigger instead of polling.
        """
        connection_id = str(known["connection_id"])
        if known.get("sync_state") in expected:
            self.log.info("Fivetran connection %r is %s.", connection_id, known["sync_state"])
            return known
        deadline = time.time() + self.wait_timeout
        if self.deferrable:
            from airflow_provider_fivetran_update.triggers.fivetran import (
                FivetranConnectionStateTrigger,
            )

            self.defer(
                trigger=FivetranConnectionStateTrigger(
                    connection_id=connection_id,
                    end_time=deadline,
                    fivetran_conn_id=self.fivetran_conn_id,
                    expected_setup_state=None,
                    expected_sync_state=list(expected),
                    fail_on_broken=False,
                    poll_interval=self.poll_interval,
                ),
                method_name="execute_complete",
            )
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise AirflowFailException(
                    f"Fivetran connection {connection_id!r} still reports sync_state="
                    f"{known.get('sync_state')!r} after {self.wait_timeout:g} s (expected "
                    f"{' or '.join(map(repr, expected))}). Check it in the Fivetran dashboard, then "
                    "clear this task, or give the window a longer timeout."
                )
            self.log.info(
                "Fivetran connection %r reports sync_state=%r; next check in %.1f s.",
                connection_id,
                known.get("sync_state"),
                min(self.poll_interval, remaining),
            )
            time.sleep(min(self.poll_interval, remaining))
            known = _record_of(connection_id, self.hook.get_connection_details(connection_id))
            if known["sync_state"] in expected:
                self.log.info("Fivetran connection %r is %s.", connection_id, known["sync_state"])
                return known

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the record on success, raise on anything else."""
        if not event or "status" not in event:
            raise FivetranError("The Fivetran state trigger ended without an event.")
        message = str(event.get("message", ""))
        if event["status"] == "success":
            self.log.info("%s", message)
            state = event.get("state") or {}
            return {
                "connection_id": event.get("connection_id"),
                "paused": state.get("paused"),
                "sync_state": state.get("sync_state"),
            }
        if event["status"] in ("timeout", "failed"):
            raise AirflowFailException(message)
        raise FivetranError(message)


class _RecordStep(BaseOperator):
    """Read each connection once and return ``[{"connection_id", "paused", "sync_state"}, ...]``."""

    template_fields: Sequence[str] = ("connection_ids", "fivetran_conn_id")
    custom_operator_name = "FivetranMaintenanceRecord"
    ui_color = _UI_COLOR

    def __init__(self, *, connection_ids: Any, fivetran_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection_ids = connection_ids
        self.fivetran_conn_id = fivetran_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        """GET every connection; nothing is changed here."""
        ids = parse_connection_ids(self.connection_ids)
        hook = FivetranHook(self.fivetran_conn_id)
        records = []
        try:
            for connection_id in ids:
                record = _record_of(connection_id, hook.get_connection_details(connection_id))
                self.log.info(
                    "Fivetran connection %r: paused=%s, sync_state=%r.",
                    connection_id,
                    record["paused"],
                    record["sync_state"],
                )
                records.append(record)
        finally:
            hook.close()
        running = sum(1 for record in records if not record["paused"])
        self.log.info(
            "Recorded %d Fivetran connection(s): %d running (will be paused and restored), "
            "%d already paused (left alone).",
            len(records),
            running,
            len(records) - running,
        )
        return records


class _PauseStep(_WindowStep):
    """Pause one connection that was running; leave an already paused one alone (no request)."""

    custom_operator_name = "FivetranMaintenancePause"

    def __init__(self, *, record: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record = record

    def execute(self, context: Context) -> dict[str, Any]:
        """PATCH ``paused: true`` unless the record says it was paused; return the answer's record."""
        connection_id = str(self.record["connection_id"])
        if self.record["paused"]:
            self.log.info("Fivetran connection %r was already paused; left alone.", connection_id)
            return dict(self.record)
        answer = _record_of(connection_id, self.hook.update_connection(connection_id, paused=True))
        self.log.info("Paused Fivetran connection %r (sync_state=%r).", connection_id, answer["sync_state"])
        return answer


class _WaitPausedStep(_WindowStep):
    """Wait until one connection reports ``sync_state == "paused"`` (no request if it already did)."""

    custom_operator_name = "FivetranMaintenanceWaitPaused"

    def __init__(self, *, record: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record = record

    def execute(self, context: Context) -> dict[str, Any]:
        """Wait for ``paused`` (see :meth:`_WindowStep._wait_for`)."""
        return self._wait_for(dict(self.record), _PAUSED_SYNC_STATES)


class _RestoreStep(_WindowStep):
    """Unpause one connection that was running before the window and wait until it runs again."""

    custom_operator_name = "FivetranMaintenanceRestore"

    def __init__(self, *, record: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record = record

    def execute(self, context: Context) -> dict[str, Any]:
        """PATCH ``paused: false`` unless the record says it was paused, then wait until running."""
        connection_id = str(self.record["connection_id"])
        if self.record["paused"]:
            self.log.info(
                "Fivetran connection %r was paused before the window; it stays paused.", connection_id
            )
            return dict(self.record)
        answer = _record_of(connection_id, self.hook.update_connection(connection_id, paused=False))
        self.log.info("Unpaused Fivetran connection %r.", connection_id)
        return self._wait_for(answer, RUNNING_SYNC_STATES)


class _WindowGroup(TaskGroup):
    """A task group whose leaves include the restore teardown.

    A plain group with a teardown hands ``group >> downstream`` the work's last tasks, so the
    downstream task would run while the connections are still being restored. What follows a
    maintenance window (a sync, a check) wants them running again, so it waits for the restore too.
    """

    restore: AbstractOperator | None = None

    def get_leaves(self) -> Generator[BaseOperator, None, None]:
        """The work's leaves (as for any group) and the restore task."""
        leaves = list(super().get_leaves())
        yield from leaves
        if self.restore is not None and all(leaf is not self.restore for leaf in leaves):
            yield self.restore  # type: ignore[misc]  # a MappedOperator joins >> like a BaseOperator


@contextmanager
def fivetran_maintenance_window(
    connection_ids: Any,
    *,
    fivetran_conn_id: str = FivetranHook.default_conn_name,
    group_id: str = "fivetran_maintenance",
    deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
    poll_interval: float = 30.0,
    timeout: float = 3600.0,
) -> Iterator[TaskGroup]:
    """Pause Fivetran connections while the tasks created in the ``with`` block run; restore after.

    Must be used inside a DAG. Yields the :class:`~airflow.sdk.TaskGroup` that holds the window's
    tasks and the block's tasks, so ``upstream >> window >> downstream`` works like with any group,
    with one difference: ``downstream`` waits for the ``restore`` teardown too (a plain group hands
    on only the work's last tasks), so it runs once the connections are running again. See the
    module documentation for the tasks, their requests and their XComs.

    :param connection_ids: the Fivetran connection ids: a list, a Jinja template rendering to a
        list, a JSON list or a comma-separated string, or an ``XComArg`` of such a value. A literal
        list is checked when the DAG is parsed. Duplicates are dropped; at least one id is needed
        (an empty list fails ``record``, so the work does not run unguarded).
    :param fivetran_conn_id: the Airflow connection with the Fivetran API key and secret.
    :param group_id: the task group's id (the prefix of every task id in the window).
    :param deferrable: wait for the states in the triggerer instead of a worker slot. Defaults
        to the ``[operators] default_deferrable`` option.
    :param poll_interval: seconds between two reads of a connection while waiting.
    :param timeout: the longest wait, in seconds, for one connection to report ``paused`` (before
        the work) or running again (after it); past it, the waiting task fails.
    """
    if not _is_rendered_later(connection_ids):
        parse_connection_ids(connection_ids)
    if poll_interval <= 0 or timeout <= 0:
        raise ValueError(
            f"poll_interval and timeout must be positive seconds, got {poll_interval} and {timeout}."
        )
    step_kwargs: dict[str, Any] = {
        "fivetran_conn_id": fivetran_conn_id,
        "deferrable": deferrable,
        "poll_interval": float(poll_interval),
        "wait_timeout": float(timeout),
        "map_index_template": _MAP_INDEX_TEMPLATE,
    }
    group = _WindowGroup(
        group_id, tooltip="Pause Fivetran connections, run the work, restore their paused state"
    )
    with group:
        record = _RecordStep(
            task_id="record", connection_ids=connection_ids, fivetran_conn_id=fivetran_conn_id
        )
        pause = _PauseStep.partial(task_id="pause", **step_kwargs).expand(record=record.output)
        wait_paused = _WaitPausedStep.partial(task_id="wait_paused", **step_kwargs).expand(
            record=pause.output
        )
        window_ids = {record.task_id, pause.task_id, wait_paused.task_id}

        yield group

        restore = _RestoreStep.partial(task_id="restore", **step_kwargs).expand(record=record.output)
        work = [task for task in group.iter_tasks() if task.task_id not in window_ids | {restore.task_id}]
        work_ids = {task.task_id for task in work}
        for task in work:
            # Wire only the block's own roots and leaves, so the work's internal order is untouched.
            if not task.upstream_task_ids & work_ids:
                wait_paused >> task
            if not task.downstream_task_ids & work_ids:
                task >> restore
        if not work:
            wait_paused >> restore
        # Typed for BaseOperator only, but Airflow supports mapped setups (each TI counts).
        restore.as_teardown(setups=pause, on_failure_fail_dagrun=True)  # type: ignore[arg-type]
        group.restore = restore
