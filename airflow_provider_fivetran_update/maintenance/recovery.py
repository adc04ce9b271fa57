"""Find and resume connections that a maintenance window paused and never resumed ("stranded").

A connection is stranded when the durable record (:mod:`.ledger`) still holds it and the DAG run
that wrote the entry is over (or gone): its restore never ran, or failed. The same code serves
:class:`FivetranResumeStrandedOperator` (a one-task DAG) and the command
``python -m airflow_provider_fivetran_update.maintenance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import BaseOperator
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID, FivetranHookOptionsMixin
from airflow_provider_fivetran_update.maintenance.ledger import Ledger, PausedEntry
from airflow_provider_fivetran_update.maintenance.window import RUNNING_SYNC_STATES, parse_connection_ids

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

__all__ = ["FivetranResumeStrandedOperator", "StrandedConnection", "find_stranded", "resume_stranded"]


@dataclass(frozen=True)
class StrandedConnection:
    """A connection the durable record holds, and what Fivetran says of it now."""

    entry: PausedEntry
    paused: bool | None
    sync_state: str | None
    window_running: bool

    @property
    def stranded(self) -> bool:
        """Paused, and held by a window whose run is over: nobody else is going to resume it."""
        return not self.window_running and self.paused is not False

    @property
    def leftover(self) -> bool:
        """Running again, but its entry outlived its run (a failed run's callback resumed it)."""
        return not self.window_running and self.paused is False

    def as_dict(self) -> dict[str, Any]:
        """What the operator returns by XCom (ids, states and times; no secret)."""
        return {
            "connection_id": self.entry.connection_id,
            "paused": self.paused,
            "sync_state": self.sync_state,
            "dag_id": self.entry.dag_id,
            "run_id": self.entry.run_id,
            "window": self.entry.group_id,
            "paused_at": self.entry.paused_at,
            "stranded": self.stranded,
            "window_running": self.window_running,
        }


def find_stranded(
    hook: FivetranHook, ledger: Ledger, connection_ids: Sequence[str] | None = None
) -> list[StrandedConnection]:
    """Every connection the durable record holds, among ``connection_ids`` or the account's.

    Without ids, the account's connections are listed (one request per page); with ids, each is
    read once (``GET``). Each is then looked up in the record.
    """
    if connection_ids:
        candidates = [(cid, hook.get_connection_details(cid)) for cid in connection_ids]
    else:
        candidates = [(str(c.get("id")), c) for c in hook.list_connections()]
    found = []
    for connection_id, details in candidates:
        entry = ledger.get(connection_id)
        if entry is None:
            continue
        found.append(
            StrandedConnection(
                entry=entry,
                paused=details.get("paused"),
                sync_state=(details.get("status") or {}).get("sync_state"),
                window_running=ledger.run_is_active(entry),
            )
        )
    return found


def resume_stranded(hook: FivetranHook, ledger: Ledger, found: Sequence[StrandedConnection]) -> list[str]:
    """Resume the stranded ones (``PATCH paused: false``); return the lines saying what was done.

    A held connection that already runs again (resumed by hand, or by a failed run's callback)
    only loses its entry: no request. One held by a window that is still running is left to it.
    """
    lines = []
    for item in found:
        connection_id = item.entry.connection_id
        if item.window_running:
            lines.append(f"{connection_id}: left alone, its window runs ({item.entry.describe()})")
            continue
        if item.leftover:
            ledger.release(connection_id)
            lines.append(f"{connection_id}: already running (sync_state={item.sync_state}); entry removed")
            continue
        answer = hook.update_connection(connection_id, paused=False)
        sync_state = (answer.get("status") or {}).get("sync_state")
        if sync_state in RUNNING_SYNC_STATES:
            ledger.release(connection_id)
            lines.append(f"{connection_id}: resumed (sync_state={sync_state}); entry removed")
        else:
            lines.append(
                f"{connection_id}: resume sent, Fivetran reports sync_state={sync_state}; entry kept "
                "until a later check finds it running"
            )
    return lines


def describe(found: Sequence[StrandedConnection]) -> list[str]:
    """One line per held connection, for logs and the command's output."""
    if not found:
        return ["No connection is held by a maintenance window."]
    labels = {True: "STRANDED", False: "in a running window"}
    return [
        f"{item.entry.connection_id}: "
        f"{'running again, entry left over' if item.leftover else labels[item.stranded]}, "
        f"paused={item.paused}, sync_state={item.sync_state}, by {item.entry.describe()}"
        for item in found
    ]


class FivetranResumeStrandedOperator(FivetranHookOptionsMixin, BaseOperator):
    """List, and with ``resume=True`` resume, connections stranded by maintenance windows.

    Meant for a one-task DAG that a person triggers (see docs/maintenance-window.md). Returns, by
    XCom, one dict per connection held in the durable record: ``connection_id``, ``paused``,
    ``sync_state``, ``dag_id``, ``run_id``, ``window``, ``paused_at``, ``stranded``.

    :param fivetran_conn_id: the Airflow connection the windows used (the record is kept per
        Airflow connection).
    :param connection_ids: only these connections (list, JSON list or comma-separated string;
        templated). Default: every paused connection of the account (listed page by page).
    :param resume: resume the stranded ones; by default (a dry run) they are only listed. Templated
        (``"{{ params.resume }}"``).
    :param request_timeout: seconds to wait for Fivetran's answer to one request.
    :param max_retries: how often one request is retried after a 429, a 5xx or no answer.
    :param retry_min_wait: seconds before the first of those retries.
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    """

    template_fields: Sequence[str] = ("connection_ids", "resume")
    ui_color = "#0073FF"

    def __init__(
        self,
        *,
        fivetran_conn_id: str = DEFAULT_CONN_ID,
        connection_ids: Any = None,
        resume: bool | str = False,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 60.0,
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
        self.connection_ids = connection_ids
        self.resume = resume

    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Find the held connections, log them, and resume the stranded ones if ``resume``."""
        resume = self.resume
        if isinstance(resume, str):  # a template renders "True"/"true" without native rendering
            resume = resume.strip().lower() in ("true", "1", "yes", "on")
        ids = parse_connection_ids(self.connection_ids) if self.connection_ids else None
        ledger = Ledger(self.fivetran_conn_id)
        try:
            found = find_stranded(self.hook, ledger, ids)
            for line in describe(found):
                self.log.info("%s", line)
            if not resume:
                if any(item.stranded for item in found):
                    self.log.warning("Dry run: nothing resumed. Run again with resume=True to resume them.")
            else:
                for line in resume_stranded(self.hook, ledger, found):
                    self.log.info("%s", line)
        finally:
            self.hook.close()
        return [item.as_dict() for item in found]
