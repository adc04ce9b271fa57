"""The durable record of what maintenance windows paused: one Airflow Variable per connection.

A window writes the entry *before* it sends the pause and deletes it only once the connection is
confirmed running again, so an entry outlives anything that can happen in between: a lost answer,
a killed worker, a run that timed out or was marked failed. Every task, the DAG processor (where
DAG-run callbacks run), later runs and the recovery command read the same metadata database.

The key is ``fivetran_maintenance:<fivetran_conn_id>:<connection_id>``, so windows on different
Airflow connections (accounts) never share an entry, and a window finds the entry of any
connection it covers without listing anything. The value holds ids and a time, never a secret.

Inside a task or a DAG processor callback, Variables go through the Task SDK (the API server);
elsewhere (the recovery command, ``dag.test()`` callbacks, Airflow 2 workers) through the
metadata database itself.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context

KEY_PREFIX = "fivetran_maintenance"
"""Every entry's Variable key starts with this (``fivetran_maintenance:<conn id>:<connection id>``)."""

ACTIVE_RUN_STATES = ("queued", "running")


def entry_key(fivetran_conn_id: str, connection_id: str) -> str:
    """The Variable key of one connection's entry."""
    return f"{KEY_PREFIX}:{fivetran_conn_id}:{connection_id}"


@dataclass(frozen=True)
class PausedEntry:
    """One connection a window paused (or was about to pause) and has not confirmed running again."""

    connection_id: str
    fivetran_conn_id: str
    dag_id: str
    run_id: str
    group_id: str
    paused_at: str

    def owned_by(self, dag_id: str, run_id: str) -> bool:
        """Whether this DAG run wrote the entry."""
        return self.dag_id == dag_id and self.run_id == run_id

    def describe(self) -> str:
        """``dag_id/run_id (group), since <time>`` for logs and the recovery command."""
        return f"DAG {self.dag_id!r} run {self.run_id!r} (window {self.group_id!r}), since {self.paused_at}"


def _in_task_sdk_process() -> bool:
    """True in a task, a DAG processor callback or a triggerer: the API server is the way in."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


class Ledger:
    """Read and write the entries of one Airflow connection (one Fivetran account)."""

    def __init__(self, fivetran_conn_id: str) -> None:
        self.fivetran_conn_id = fivetran_conn_id

    def get(self, connection_id: str) -> PausedEntry | None:
        """The entry of ``connection_id``, or ``None``."""
        raw = _get_variable(entry_key(self.fivetran_conn_id, connection_id))
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            return PausedEntry(**{name: str(value[name]) for name in PausedEntry.__dataclass_fields__})
        except (ValueError, TypeError, KeyError):
            # Someone edited it by hand: still a paused connection nobody confirmed running.
            return PausedEntry(connection_id, self.fivetran_conn_id, "?", "?", "?", "?")

    def claim(self, connection_id: str, *, dag_id: str, run_id: str, group_id: str) -> PausedEntry:
        """Write (or take over) the entry before the pause is sent."""
        entry = PausedEntry(
            connection_id=connection_id,
            fivetran_conn_id=self.fivetran_conn_id,
            dag_id=dag_id,
            run_id=run_id,
            group_id=group_id,
            paused_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _set_variable(
            entry_key(self.fivetran_conn_id, connection_id),
            json.dumps(asdict(entry)),
            description=(
                f"Fivetran connection {connection_id!r} was paused by a maintenance window "
                f"(DAG {dag_id!r}, run {run_id!r}). Deleted once it runs again; if the run is over "
                "and it is still here, resume it: python -m airflow_provider_fivetran_update."
                "maintenance --resume-stranded --apply"
            ),
        )
        return entry

    def release(self, connection_id: str) -> None:
        """Delete the entry (the connection is confirmed running again)."""
        _delete_variable(entry_key(self.fivetran_conn_id, connection_id))

    def run_is_active(self, entry: PausedEntry) -> bool:
        """Whether the DAG run that wrote ``entry`` is still queued or running."""
        return _dag_run_state(entry.dag_id, entry.run_id) in ACTIVE_RUN_STATES


def run_of(context: Context) -> tuple[str, str]:
    """``(dag_id, run_id)`` of the running task or callback."""
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or context["dag"].dag_id
    run_id = getattr(dag_run, "run_id", None) or context["run_id"]
    return str(dag_id), str(run_id)


# -- the two ways to the metadata database ---------------------------------------------------------


def _get_variable(key: str) -> str | None:
    if _in_task_sdk_process():
        from airflow.sdk import Variable

        value = Variable.get(key, default=None)
    else:
        from airflow.models.variable import Variable as StoredVariable

        value = StoredVariable.get(key, default_var=None)
    return None if value is None else str(value)


def _set_variable(key: str, value: str, *, description: str) -> None:
    if _in_task_sdk_process():
        from airflow.sdk import Variable

        Variable.set(key, value, description=description)
    else:
        from airflow.models.variable import Variable as StoredVariable

        StoredVariable.set(key, value, description=description)


def _delete_variable(key: str) -> None:
    if _in_task_sdk_process():
        from airflow.sdk import Variable

        Variable.delete(key)
    else:
        from airflow.models.variable import Variable as StoredVariable

        StoredVariable.delete(key)


def _dag_run_state(dag_id: str, run_id: str) -> str | None:
    """The run's state, or ``None`` when there is no such run (deleted, or never stored)."""
    if _in_task_sdk_process():
        from airflow.sdk.exceptions import AirflowRuntimeError
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        try:
            return str(RuntimeTaskInstance.get_dagrun_state(dag_id, run_id))
        except AirflowRuntimeError:
            return None
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        state = session.scalar(select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    return None if state is None else str(state)


def load_run_record(dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]] | None:
    """The ``record`` task's XCom of one run (what the window found before pausing), or ``None``."""
    if _in_task_sdk_process():
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_one(key="return_value", dag_id=dag_id, task_id=task_id, run_id=run_id)
    else:
        from airflow_provider_fivetran_update._compat import stored_xcom_value

        value = stored_xcom_value(dag_id=dag_id, run_id=run_id, task_id=task_id)
    return list(value) if isinstance(value, list) else None
