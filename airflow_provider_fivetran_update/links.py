"""The "Fivetran" extra link of operators and sensors: the connection's dashboard page."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow_provider_fivetran_update._compat import BaseOperator, BaseOperatorLink
from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.ids import check_connection_id
from airflow_provider_fivetran_update.states import is_rendered_later

if TYPE_CHECKING:
    from airflow_provider_fivetran_update._compat import TaskInstanceKey

__all__ = ["DASHBOARD_URL_XCOM_KEY", "FivetranConnectionLink", "connection_dashboard_url"]

DASHBOARD_URL_XCOM_KEY = "fivetran_connection_url"
"""XCom key under which operators and sensors push the dashboard URL :class:`FivetranConnectionLink` shows."""

# Fivetran renamed "connectors" to "connections" in its API (/v1/connections) and dashboard in 2025.
# The dashboard addresses a connection by its id alone: /dashboard/connections/{id}/status, the page
# Fivetran's own tools link to (the Connector SDK's deploy output, alert e-mails). The id is the one
# value every connection response carries and that never changes. The older
# /dashboard/connectors/{service}/{schema} form (used by airflow-provider-fivetran-async) needs two
# more values, breaks when a schema name is reused in another destination, and now only redirects.
_DASHBOARD_URL = "https://fivetran.com/dashboard/connections/{id}/status"


def connection_dashboard_url(connection_id: str) -> str:
    """Return the Fivetran dashboard URL of a connection.

    :param connection_id: the connection's id.
    :return: ``https://fivetran.com/dashboard/connections/{id}/status``.
    :raises ValueError: if ``connection_id`` is empty.
    """
    if not isinstance(connection_id, str) or not connection_id:
        raise ValueError("No Fivetran connection id was given; cannot build its dashboard URL.")
    return _DASHBOARD_URL.format(id=quote(connection_id, safe=""))


class FivetranConnectionLink(BaseOperatorLink):
    """A "Fivetran" button on the task that opens the connection's page in the Fivetran dashboard.

    The URL is built from the task's connection id when it is known without running the task (a
    literal id, or the rendered one when Airflow asks at the end of a run), so a task that failed
    before pushing anything still links to its connection, and no missing XCom is looked up. An
    invalid id gives no link. Otherwise (a templated id, seen by the Airflow 2 webserver) the URL
    the task pushed to XCom under :data:`DASHBOARD_URL_XCOM_KEY` is used, if any.
    """

    name = "Fivetran"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the connection's dashboard URL, or an empty string when there is none."""
        connection_id = getattr(operator, "connection_id", None)
        if isinstance(connection_id, str) and not is_rendered_later(connection_id):
            try:
                return connection_dashboard_url(check_connection_id(connection_id))
            except FivetranValidationError:
                return ""
        # Imported here: resolving the XCom backend reads the configuration, which DAG parsing
        # does not need.
        from airflow_provider_fivetran_update._compat import XCom

        url = XCom.get_value(ti_key=ti_key, key=DASHBOARD_URL_XCOM_KEY)
        return url if isinstance(url, str) else ""
