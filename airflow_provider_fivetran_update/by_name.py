"""Addressing a Fivetran connection by id, or by name within a group: the operators' and sensors' mixin.

A name is resolved when the task runs, never while the DAG file is parsed: one listing request
filtered by name (the group's connections, or the account's when no group is given).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.hooks.options import FivetranHookOptionsMixin
from airflow_provider_fivetran_update.ids import check_connection_id
from airflow_provider_fivetran_update.states import is_rendered_later

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import Context

__all__ = ["CONNECTION_ID_XCOM_KEY", "FivetranConnectionByName"]

log = logging.getLogger(__name__)

CONNECTION_ID_XCOM_KEY = "fivetran_connection_id"
"""XCom key under which a task that was given ``connection_name`` pushes the id it resolved."""


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


class FivetranConnectionByName(FivetranHookOptionsMixin):
    """Mixin: the hook options, and a connection given by ``connection_id`` or ``connection_name``.

    ``connection_name`` is the connection's name in Fivetran (its destination schema, shown under
    its title in the dashboard); ``group_id`` is the destination's group, needed only when the
    same name exists in several destinations.
    """

    # The id once resolve_connection_id() ran; until then None when the task was given a name.
    connection_id: str
    connection_name: str | None
    group_id: str | None

    def set_connection_target(
        self, owner: str, *, connection_id: Any, connection_name: Any, group_id: Any
    ) -> None:
        """Check and keep how the task names its connection; ``owner`` (the task id) prefixes errors."""
        if (connection_id is None) == (connection_name is None):
            raise ValueError(
                f"{owner}: pass connection_id (the Fivetran connection's id) or connection_name "
                "(its name, with group_id when the name exists in several destinations), "
                f"{'not both' if connection_id is not None else 'got neither'}."
            )
        if group_id is not None and connection_name is None:
            raise ValueError(f"{owner}: group_id only narrows a lookup by connection_name; pass one too.")
        for argument, value in (("connection_name", connection_name), ("group_id", group_id)):
            if _blank(value):
                raise ValueError(f"{owner}: {argument} must not be blank, got {value!r}.")
        # A literal id is checked now, so a typo fails the DAG parse; a templated one when it runs.
        if isinstance(connection_id, str) and not is_rendered_later(connection_id):
            check_connection_id(connection_id)
        self.connection_id = connection_id
        self.connection_name = connection_name
        self.group_id = group_id

    def resolve_connection_id(self, context: Context) -> str:
        """The connection id, rendered and checked, looked up by name when needed.

        A resolved id is kept on the task and pushed to XCom (:data:`CONNECTION_ID_XCOM_KEY`) for
        downstream tasks and the UI.
        """
        if self.connection_name is None:
            return check_connection_id(self.connection_id)
        name, group_id = self.connection_name, self.group_id
        if not isinstance(name, str) or not name.strip():
            raise FivetranValidationError(
                "connection_name", f"must be the name of a Fivetran connection, got {name!r}."
            )
        if group_id is not None and (not isinstance(group_id, str) or not group_id.strip()):
            raise FivetranValidationError("group_id", f"must be a Fivetran group id, got {group_id!r}.")
        connection_id = str(self.hook.find_connection_by_name(name, group_id=group_id)["id"])
        # Not read back by a later try: Airflow clears a task's XComs whenever it starts it again
        # (a retry, a reschedule), so a lookup costs its one request each time.
        context["ti"].xcom_push(key=CONNECTION_ID_XCOM_KEY, value=connection_id)
        where = f" in group {group_id!r}" if group_id else ""
        log.info("Fivetran connection named %r%s is %r.", name, where, connection_id)
        self.connection_id = connection_id
        return connection_id
