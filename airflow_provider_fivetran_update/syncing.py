"""Pure pieces of syncs, re-syncs and lookups by name: argument checks and choosing a connection.

Nothing here sends a request or imports anything heavy: the operators and the sensor load it when
a DAG file is parsed (to check literal arguments), and the hook uses it before sending.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_provider_fivetran_update.exceptions import FivetranError, FivetranValidationError

__all__ = [
    "check_astronomer_arguments",
    "completed_after_epoch",
    "normalize_resync_scope",
    "pick_connection_by_name",
]

_SCOPE_FORM = '{"schema_name": ["table_name", ...]}, a dict or its JSON text'


def normalize_resync_scope(value: Any) -> dict[str, list[str]] | None:
    """The re-sync ``scope`` as Fivetran takes it: schema names mapped to non-empty lists of tables.

    ``None`` (or an empty text, what an unset template renders to) means the whole connection.
    A JSON text (what a template renders to) is read first. Fivetran answers 400 to an empty scope
    or an empty table list, so both are refused here, before anything is sent. Raises
    :class:`~airflow_provider_fivetran_update.exceptions.FivetranValidationError` naming ``scope``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FivetranValidationError("scope", f"{value!r} is not JSON.", _SCOPE_FORM) from None
    if not isinstance(value, Mapping) or not value:
        raise FivetranValidationError(
            "scope",
            f"expected a non-empty mapping of schema names to table lists, got {value!r}; "
            "pass None to re-sync every table.",
            _SCOPE_FORM,
        )
    scope: dict[str, list[str]] = {}
    for schema, tables in value.items():
        if not isinstance(schema, str) or not schema.strip():
            raise FivetranValidationError(
                "scope", f"schema name {schema!r} is not a non-empty string.", _SCOPE_FORM
            )
        if isinstance(tables, str) or not isinstance(tables, Sequence) or not tables:
            raise FivetranValidationError(
                "scope",
                f"the tables of schema {schema!r} must be a non-empty list, got {tables!r}.",
                _SCOPE_FORM,
            )
        names: list[str] = []
        for table in tables:
            if not isinstance(table, str) or not table.strip():
                raise FivetranValidationError(
                    "scope", f"table {table!r} of schema {schema!r} is not a non-empty string.", _SCOPE_FORM
                )
            if table not in names:  # Fivetran wants each table once
                names.append(table)
        scope[schema] = names
    return scope


def completed_after_epoch(value: Any) -> float:
    """Epoch seconds of a ``completed_after`` value: a datetime, ISO 8601 text or epoch seconds.

    A naive datetime or text counts as UTC (Airflow's own timezone for data intervals). Raises
    :class:`~airflow_provider_fivetran_update.exceptions.FivetranValidationError` naming
    ``completed_after`` when the value cannot be read.
    """
    allowed = "a datetime, an ISO 8601 timestamp such as '2026-01-01T00:00:00Z', or epoch seconds"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise FivetranValidationError(
                "completed_after", f"{value!r} is not a timestamp.", allowed
            ) from None
    else:
        raise FivetranValidationError("completed_after", f"{value!r} is not a timestamp.", allowed)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def pick_connection_by_name(
    name: str, items: Sequence[Mapping[str, Any]], *, group_ids: Sequence[str] | None
) -> dict[str, Any]:
    """The one connection named ``name`` (its ``schema``) among ``items``, a listing's answers.

    :param group_ids: the groups that were searched, for messages; ``None`` when every group was.
    :raises FivetranError: when no connection has that name, or more than one does (a name is
        unique within a destination, not across destinations): the message lists the candidates'
        ids and groups and says to pass ``group_id``.
    """
    where = "any group" if group_ids is None else "group " + " or ".join(repr(group) for group in group_ids)
    matches = [dict(item) for item in items if item.get("schema") == name]
    if not matches:
        raise FivetranError(
            f"No Fivetran connection named {name!r} in {where}. A connection's name is its "
            "destination schema, shown under its title in the Fivetran dashboard; check the spelling "
            "and the group_id (the destination's group), or pass connection_id instead."
        )
    if len(matches) > 1:
        found = ", ".join(f"{item.get('id')!r} in group {item.get('group_id')!r}" for item in matches)
        raise FivetranError(
            f"{len(matches)} Fivetran connections are named {name!r} in {where}: {found}. "
            "Pass group_id to say which destination's connection to use, or pass connection_id."
        )
    return matches[0]


# Arguments of airflow-provider-fivetran-async 2.4.0 and what to pass here instead (see
# docs/migrating-from-astronomer.md).
_ASTRONOMER_ARGUMENTS: dict[str, str] = {
    "connector_id": "connection_id",
    "connector_name": "connection_name",
    "destination_name": "group_id (the destination's group id)",
    "poll_frequency": "poll_interval",
    "fivetran_retry_limit": "max_retries",
    "fivetran_retry_delay": "retry_min_wait",
    "completed_after_time": "completed_after",
    "xcom": "completed_after",
    "propagate_failures_forward": "fail_on_sync_failure",
    "timeout_seconds": "timeout",
    "schedule_type": "nothing: the connection's schedule is never changed",
    "reschedule_wait_time": "nothing: a rescheduled sync is waited for until Fivetran resumes it",
    "reschedule_time": "nothing: a rescheduled sync is waited for until Fivetran resumes it",
    "always_wait_when_syncing": "nothing: a sync completed after the moment counts",
    "run_name": "nothing",
}


def check_astronomer_arguments(task: str, task_id: object, kwargs: Mapping[str, Any]) -> None:
    """Fail with the replacement when a DAG passes an ``airflow-provider-fivetran-async`` argument.

    Airflow's own error would only say the argument is unknown.
    """
    for name in kwargs:
        if name in _ASTRONOMER_ARGUMENTS:
            raise TypeError(
                f"{task} (task_id: {task_id}) got {name!r}, an argument of airflow-provider-fivetran-async; "
                f"here pass {_ASTRONOMER_ARGUMENTS[name]} (see docs/migrating-from-astronomer.md)."
            )
