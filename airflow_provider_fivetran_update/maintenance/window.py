"""The window's task group and its steps (see :mod:`airflow_provider_fivetran_update.maintenance`)."""

from __future__ import annotations

import ast
import json
import logging
import time
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import (
    AirflowFailException,
    BaseOperator,
    EmptyOperator,
    TaskGroup,
    conf,
)
from airflow_provider_fivetran_update.exceptions import FivetranError, FivetranValidationError
from airflow_provider_fivetran_update.hooks.options import (
    DEFAULT_CONN_ID,
    FivetranHookOptionsMixin,
    HookOptions,
)
from airflow_provider_fivetran_update.ids import check_connection_id
from airflow_provider_fivetran_update.maintenance.ledger import Ledger, load_run_record, run_of
from airflow_provider_fivetran_update.states import is_rendered_later

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import DAG, AbstractOperator, Context
    from airflow_provider_fivetran_update.waiting import WaitCondition

__all__ = ["RUNNING_SYNC_STATES", "fivetran_maintenance_window", "parse_connection_ids"]

RUNNING_SYNC_STATES: tuple[str, ...] = ("scheduled", "syncing", "rescheduled")
"""The ``sync_state`` values that count as "running again" after a restore."""

_PAUSED_SYNC_STATES: tuple[str, ...] = ("paused",)
_MAP_INDEX_TEMPLATE = "{{ task.record.connection_id }}"
_UI_COLOR = "#0073FF"

log = logging.getLogger(__name__)


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


def _record_of(connection_id: str, connection: Mapping[str, Any]) -> dict[str, Any]:
    """What the window keeps of a GET or PATCH answer: id, ``paused`` and ``sync_state`` only."""
    status = connection.get("status") or {}
    return {
        "connection_id": connection_id,
        "paused": connection.get("paused"),
        "sync_state": status.get("sync_state"),
    }


class _Step(FivetranHookOptionsMixin, BaseOperator):
    """What every task of the window shares: the hook options and the window's identity."""

    ui_color = _UI_COLOR

    def __init__(
        self,
        *,
        fivetran_conn_id: str,
        window_id: str,
        request_timeout: float,
        max_retries: int,
        retry_min_wait: float,
        retry_max_wait: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_hook_options(
            self.task_id,
            fivetran_conn_id=fivetran_conn_id,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_min_wait=retry_min_wait,
            retry_max_wait=retry_max_wait,
        )
        self.window_id = window_id

    def ledger(self) -> Ledger:
        """The durable record of the connections this Airflow connection's windows paused."""
        return Ledger(self.fivetran_conn_id)


class _WindowStep(_Step):
    """A step for one connection (mapped over the records) that may wait for a state."""

    def __init__(
        self,
        *,
        record: dict[str, Any],
        deferrable: bool,
        poll_interval: float,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.record = record
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout

    def _wait_for(self, context: Context, known: dict[str, Any], expected: Sequence[str]) -> dict[str, Any]:
        """Return once the connection's ``sync_state`` is one of ``expected``; fail at the timeout.

        ``known`` is the last answer's record: when it already shows an expected state, nothing
        is sent. In deferrable mode the task defers to the state trigger once it has to wait.
        """
        from airflow_provider_fivetran_update.waiting import settle, wait_in_task

        connection_id = str(known["connection_id"])
        result = wait_in_task(
            self,
            context,
            connection_id,
            _sync_state_condition(expected),
            deadline=time.time() + self.timeout,
            poll_interval=self.poll_interval,
            known=_as_connection(known),
        )
        settle(result, connection_id=connection_id, timeout_error=self._timeout_error)
        return self._waited(context, _record_of(connection_id, result.connection or _as_connection(known)))

    def _timeout_error(self, message: str) -> AirflowFailException:
        """A wait that timed out: final (no retry), saying what was seen last and what to do."""
        return AirflowFailException(
            f"{message} The window waited {self.timeout:g} s. Check the connection in the Fivetran "
            "dashboard, then clear this task, or give the window a longer timeout."
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the record on success, raise on anything else."""
        from airflow_provider_fivetran_update.waiting import replays_an_earlier_try, settle

        if replays_an_earlier_try(self, context):
            restarted: dict[str, Any] = self.execute(context)
            return restarted
        connection_id = str(self.record["connection_id"])
        result = settle(event, connection_id=connection_id, timeout_error=self._timeout_error)
        self.log.info("%s", result.message)
        state = result.state or {}
        return self._waited(
            context,
            {
                "connection_id": connection_id,
                "paused": state.get("paused"),
                "sync_state": state.get("sync_state"),
            },
        )

    def _waited(self, context: Context, record: dict[str, Any]) -> dict[str, Any]:
        """What the step does once its wait has ended, in the worker or after the trigger (one
        place for both, so a resumed wait and a worker wait end alike)."""
        return record


def _sync_state_condition(expected: Sequence[str]) -> WaitCondition:
    """Wait for one of the ``sync_state`` values, whatever the setup state (broken included)."""
    from airflow_provider_fivetran_update.waiting import WaitCondition

    return WaitCondition.state(
        expected_setup_state=None, expected_sync_state=list(expected), fail_on_broken=False
    )


def _as_connection(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the part of a connection answer that a sync-state wait reads."""
    return {
        "id": record["connection_id"],
        "paused": record.get("paused"),
        "status": {"sync_state": record.get("sync_state")},
    }


class _RecordStep(_Step):
    """Read each connection once and return ``[{"connection_id", "paused", "sync_state"}, ...]``.

    A connection that the durable record shows paused by a window counts as running: this run
    paused it (``record`` cleared or retried), or an earlier run did and never resumed it.
    """

    template_fields: Sequence[str] = ("connection_ids", "fivetran_conn_id")
    custom_operator_name = "FivetranMaintenanceRecord"

    def __init__(self, *, connection_ids: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection_ids = connection_ids

    def execute(self, context: Context) -> list[dict[str, Any]]:
        """GET every connection and read its durable entry; nothing is changed here."""
        ids = parse_connection_ids(self.connection_ids)
        dag_id, run_id = run_of(context)
        ledger = self.ledger()
        records = []
        try:
            for connection_id in ids:
                record = _record_of(connection_id, self.hook.get_connection_details(connection_id))
                entry = ledger.get(connection_id)
                if entry is not None and entry.owned_by(dag_id, run_id):
                    self.log.info(
                        "Fivetran connection %r was paused by this run's window already (record "
                        "cleared or retried): it counts as running and will be resumed.",
                        connection_id,
                    )
                    record["paused"] = False
                elif entry is not None and ledger.run_is_active(entry):
                    self.log.warning(
                        "Fivetran connection %r is also in the maintenance window of %s, which is "
                        "still running. This window takes it over and resumes it at its end.",
                        connection_id,
                        entry.describe(),
                    )
                    record["paused"] = False
                elif entry is not None and record["paused"]:
                    self.log.error(
                        "STRANDED Fivetran connection %r: paused by the maintenance window of %s, "
                        "whose run ended without resuming it. This window counts it as running and "
                        "resumes it at its end.",
                        connection_id,
                        entry.describe(),
                    )
                    record["paused"] = False
                elif entry is not None:
                    self.log.info(
                        "Fivetran connection %r runs; the entry left by the window of %s is "
                        "cleared when this window restores it.",
                        connection_id,
                        entry.describe(),
                    )
                self.log.info(
                    "Fivetran connection %r: paused=%s, sync_state=%r.",
                    connection_id,
                    record["paused"],
                    record["sync_state"],
                )
                records.append(record)
        finally:
            self.hook.close()
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

    def execute(self, context: Context) -> dict[str, Any]:
        """Write the durable entry, then PATCH ``paused: true``; return the answer's record."""
        connection_id = str(self.record["connection_id"])
        if self.record["paused"]:
            self.log.info("Fivetran connection %r was already paused; left alone.", connection_id)
            return dict(self.record)
        dag_id, run_id = run_of(context)
        # Written first: whatever happens to the PATCH or to this worker, the restore, the run's
        # failure callback, a later run and the recovery command all know it may be paused.
        self.ledger().claim(connection_id, dag_id=dag_id, run_id=run_id, group_id=self.window_id)
        answer = _record_of(connection_id, self.hook.update_connection(connection_id, paused=True))
        self.log.info("Paused Fivetran connection %r (sync_state=%r).", connection_id, answer["sync_state"])
        return answer


class _WaitPausedStep(_WindowStep):
    """Wait until one connection reports ``sync_state == "paused"`` (no request if it already did)."""

    custom_operator_name = "FivetranMaintenanceWaitPaused"

    def execute(self, context: Context) -> dict[str, Any]:
        """Wait for ``paused`` (see :meth:`_WindowStep._wait_for`)."""
        return self._wait_for(context, dict(self.record), _PAUSED_SYNC_STATES)


class _RestoreStep(_WindowStep):
    """Resume one connection that was running before the window and wait until it runs again.

    Runs whatever happened to the pause: the PATCH ``paused: false`` is sent for every connection
    that was running, so one that was never paused costs that one request and nothing changes.
    """

    custom_operator_name = "FivetranMaintenanceRestore"

    def execute(self, context: Context) -> dict[str, Any]:
        """PATCH ``paused: false`` unless the record says it was paused, then wait until running."""
        connection_id = str(self.record["connection_id"])
        if self.record["paused"]:
            self.log.info(
                "Fivetran connection %r was paused before the window; it stays paused.", connection_id
            )
            return dict(self.record)
        dag_id, run_id = run_of(context)
        ledger = self.ledger()
        entry = ledger.get(connection_id)
        if entry is not None and not entry.owned_by(dag_id, run_id) and ledger.run_is_active(entry):
            self.log.warning(
                "Fivetran connection %r was taken over by the maintenance window of %s, which is "
                "still running; that window resumes it.",
                connection_id,
                entry.describe(),
            )
            return dict(self.record)
        answer = _record_of(connection_id, self.hook.update_connection(connection_id, paused=False))
        self.log.info("Unpaused Fivetran connection %r.", connection_id)
        return self._wait_for(context, answer, RUNNING_SYNC_STATES)

    def _waited(self, context: Context, running: dict[str, Any]) -> dict[str, Any]:
        """The connection runs again: delete its entry, unless another window took it over since."""
        connection_id = str(running["connection_id"])
        dag_id, run_id = run_of(context)
        ledger = self.ledger()
        entry = ledger.get(connection_id)
        if entry is not None and (entry.owned_by(dag_id, run_id) or not ledger.run_is_active(entry)):
            ledger.release(connection_id)
        return running


def _resume_after_failed_run(
    *, record_task_id: str, window_id: str, hook_kwargs: Mapping[str, Any]
) -> Callable[[Context], None]:
    """The DAG-run failure callback the window adds to its DAG.

    Airflow calls it (in the DAG processor) when the run fails, also when the scheduler fails it
    for ``dagrun_timeout`` and skips every unfinished task, ``restore`` included. It resumes the
    connections this run still holds in the durable record: after a normal failure the restore
    already did and released them, so it sends nothing.
    """

    def resume_paused_connections(context: Context) -> None:
        dag_id, run_id = run_of(context)
        records = load_run_record(dag_id, run_id, record_task_id) or []
        ledger = Ledger(hook_kwargs["fivetran_conn_id"])
        held = [
            str(record["connection_id"])
            for record in records
            if not record.get("paused")
            and (entry := ledger.get(str(record["connection_id"]))) is not None
            and entry.owned_by(dag_id, run_id)
        ]
        if not held:
            return
        hook = HookOptions.from_json(hook_kwargs).make_hook()
        try:
            for connection_id in held:
                try:
                    answer = _record_of(connection_id, hook.update_connection(connection_id, paused=False))
                except FivetranError as error:
                    log.error(
                        "Maintenance window %r of failed run %r could not resume Fivetran connection "
                        "%r: %s. The next run of the window resumes it, or run: python -m "
                        "airflow_provider_fivetran_update.maintenance --resume-stranded --apply",
                        window_id,
                        run_id,
                        connection_id,
                        error,
                    )
                    continue
                # The entry stays: a pause of this run may still be in flight (a timed-out run's
                # tasks die at their next heartbeat). The next window run covering the connection,
                # or the recovery command, confirms it running and clears the entry.
                log.warning(
                    "Maintenance window %r of failed run %r (%s): resumed Fivetran connection %r "
                    "(sync_state=%r).",
                    window_id,
                    run_id,
                    context.get("reason"),
                    connection_id,
                    answer["sync_state"],
                )
        finally:
            hook.close()

    return resume_paused_connections


class _RestoredStep(EmptyOperator):
    """Succeeds when every restore succeeded; otherwise ``upstream_failed``, which fails the run."""

    custom_operator_name = "FivetranMaintenanceRestored"
    ui_color = _UI_COLOR


class _WindowGroup(TaskGroup):
    """A task group whose leaves include the end of the restore.

    A plain group with a teardown hands ``group >> downstream`` the work's last tasks, so the
    downstream task would run while the connections are still being restored. What follows a
    maintenance window (a sync, a check) wants them running again, so it waits for the restore too.
    """

    restored: AbstractOperator | None = None
    work_leaves: Sequence[AbstractOperator] = ()

    def get_leaves(self) -> Generator[BaseOperator, None, None]:
        """The work's last tasks and ``restored``, which follows every restore."""
        if self.restored is None:
            yield from super().get_leaves()
            return
        # A MappedOperator joins >> like a BaseOperator.
        yield from self.work_leaves  # type: ignore[misc]
        yield self.restored  # type: ignore[misc]


@contextmanager
def fivetran_maintenance_window(
    connection_ids: Any,
    *,
    fivetran_conn_id: str = DEFAULT_CONN_ID,
    group_id: str = "fivetran_maintenance",
    deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
    poll_interval: float = 30.0,
    timeout: float = 3600.0,
    request_timeout: float = 30.0,
    max_retries: int = 5,
    retry_min_wait: float = 1.0,
    retry_max_wait: float = 60.0,
) -> Iterator[TaskGroup]:
    """Pause Fivetran connections while the tasks created in the ``with`` block run; restore after.

    Must be used inside a DAG. Yields the :class:`~airflow.sdk.TaskGroup` that holds the window's
    tasks and the block's tasks, so ``upstream >> window >> downstream`` works like with any group,
    with one difference: ``downstream`` waits for the ``restore`` teardown too (a plain group hands
    on only the work's last tasks), so it runs once the connections are running again. See the
    package documentation for the tasks, their requests, the durable record and recovery.

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
    :param request_timeout: seconds to wait for Fivetran's answer to one request.
    :param max_retries: how often one request is retried after a 429, a 5xx or no answer.
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    """
    if not is_rendered_later(connection_ids):
        parse_connection_ids(connection_ids)
    if poll_interval <= 0 or timeout <= 0:
        raise ValueError(
            f"poll_interval and timeout must be positive seconds, got {poll_interval} and {timeout}."
        )
    group = _WindowGroup(
        group_id, tooltip="Pause Fivetran connections, run the work, restore their paused state"
    )
    hook_kwargs: dict[str, Any] = {
        "fivetran_conn_id": fivetran_conn_id,
        "request_timeout": float(request_timeout),
        "max_retries": int(max_retries),
        "retry_min_wait": float(retry_min_wait),
        "retry_max_wait": float(retry_max_wait),
    }
    # Checked once here, so a bad option fails the DAG file, not the first task.
    window_id = str(group.group_id)
    FivetranHookOptionsMixin().set_hook_options(window_id, **hook_kwargs)
    common: dict[str, Any] = {"window_id": window_id, **hook_kwargs}
    step_kwargs: dict[str, Any] = {
        **common,
        "deferrable": deferrable,
        "poll_interval": float(poll_interval),
        "timeout": float(timeout),
        "map_index_template": _MAP_INDEX_TEMPLATE,
    }
    with group:
        record = _RecordStep(task_id="record", connection_ids=connection_ids, **common)
        pause = _PauseStep.partial(task_id="pause", **step_kwargs).expand(record=record.output)
        wait_paused = _WaitPausedStep.partial(task_id="wait_paused", **step_kwargs).expand(
            record=pause.output
        )
        window_ids = {record.task_id, pause.task_id, wait_paused.task_id}
        window_tail = {f"{group.group_id}.restore", f"{group.group_id}.restored"}

        yield group

        restore = _RestoreStep.partial(task_id="restore", **step_kwargs).expand(record=record.output)
        work = [task for task in group.iter_tasks() if task.task_id not in window_ids | window_tail]
        work_ids = {task.task_id for task in work}
        for task in work:
            # Wire only the block's own roots and leaves, so the work's internal order is untouched.
            if not task.upstream_task_ids & work_ids:
                wait_paused >> task
            if not task.downstream_task_ids & work_ids:
                task >> restore
        if not work:
            wait_paused >> restore
        leaves = [task for task in work if not task.downstream_task_ids & work_ids]
        group.work_leaves = leaves or [wait_paused]
        # ``record`` is a setup too: a teardown runs when at least one of its setups succeeded,
        # so the restore runs even when every pause failed (perhaps after its PATCH took effect).
        # Typed for BaseOperator only, but Airflow supports mapped setups (each TI counts).
        restore.as_teardown(setups=[record, pause])  # type: ignore[list-item]
        # A teardown's failure does not count for the run, and on_failure_fail_dagrun would make
        # the restore the run's only leaf (a failed work would end "success"; for a mapped
        # teardown it is also lost once the DAG is serialized). This empty leaf ends
        # upstream_failed when a restore failed, which fails the run; the scheduler marks it done
        # without a worker.
        restored = _RestoredStep(task_id="restored")
        restore >> restored
        group.restored = restored
    dag = group.dag
    if dag is not None:
        _add_failure_callback(
            dag,
            _resume_after_failed_run(
                record_task_id=record.task_id, window_id=window_id, hook_kwargs=hook_kwargs
            ),
        )


def _add_failure_callback(dag: DAG, callback: Callable[[Context], None]) -> None:
    """Append ``callback`` to the DAG's run failure callbacks, keeping the user's own."""
    existing = dag.on_failure_callback
    if existing is None:
        callbacks: list[Any] = []
    elif isinstance(existing, list):
        callbacks = list(existing)
    else:
        callbacks = [existing]
    dag.on_failure_callback = [*callbacks, callback]
    # Worked out once when the DAG is made; the serialized DAG tells the scheduler from this flag.
    dag.has_on_failure_callback = True
