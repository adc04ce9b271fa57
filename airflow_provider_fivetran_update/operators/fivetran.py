"""Operator that updates a Fivetran connection, and the link to that connection's dashboard page."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_provider_fivetran_update._compat import mask_secret
from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.fields import FIELD_NAMES, FIELDS, build_update_payload, coerce_value
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.redaction import redact, secret_values

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_provider_fivetran_update._compat import TaskInstanceKey

__all__ = [
    "DASHBOARD_URL_XCOM_KEY",
    "FivetranConnectionLink",
    "FivetranUpdateConnectionOperator",
    "connection_dashboard_url",
]

DASHBOARD_URL_XCOM_KEY = "fivetran_connection_url"
"""XCom key under which operators and sensors push the dashboard URL :class:`FivetranConnectionLink` shows."""

# Fivetran renamed "connectors" to "connections" in its API (/v1/connections) and dashboard in 2025.
# The dashboard addresses a connection by its id alone: /dashboard/connections/{id}/status, the page
# Fivetran's own tools link to (the Connector SDK's deploy output, alert e-mails). The id is the one
# value every connection response carries and that never changes. The older
# /dashboard/connectors/{service}/{schema} form (used by airflow-provider-fivetran-async) needs two
# more values, breaks when a schema name is reused in another destination, and now only redirects.
_DASHBOARD_URL = "https://fivetran.com/dashboard/connections/{id}/status"

# The fields whose rendered values may carry credentials (config, auth, ...).
_SECRET_FIELDS: tuple[str, ...] = tuple(name for name, spec in FIELDS.items() if spec.may_hold_secrets)


def connection_dashboard_url(data: Mapping[str, Any]) -> str:
    """Return the Fivetran dashboard URL of a connection.

    :param data: the ``data`` object of a Fivetran connection response (only ``id`` is read), as
        returned by ``FivetranHook.update_connection`` or ``FivetranHook.get_connection_details``.
    :return: ``https://fivetran.com/dashboard/connections/{id}/status``.
    :raises ValueError: if ``data`` has no connection ``id``.
    """
    connection_id = data.get("id")
    if not isinstance(connection_id, str) or not connection_id:
        raise ValueError("The Fivetran connection data has no 'id'; cannot build its dashboard URL.")
    return _DASHBOARD_URL.format(id=quote(connection_id, safe=""))


class FivetranConnectionLink(BaseOperatorLink):
    """A "Fivetran" button on the task that opens the connection's page in the Fivetran dashboard.

    The task pushes the URL to XCom under :data:`DASHBOARD_URL_XCOM_KEY` while it runs; until then,
    or when the task failed before reaching Fivetran, the button has no target.
    """

    name = "Fivetran"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the dashboard URL the task pushed to XCom, or an empty string when there is none."""
        # Imported here: resolving the XCom backend reads the configuration, which DAG parsing
        # does not need.
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=DASHBOARD_URL_XCOM_KEY)
        return url if isinstance(url, str) else ""


class FivetranUpdateConnectionOperator(BaseOperator):
    """Update a Fivetran connection (``PATCH /v1/connections/{connection_id}``).

    Only the fields given (not ``None``) are sent; every other setting of the connection stays as it
    is. Every field and ``connection_id`` is templated. Rendered strings are converted to the types
    Fivetran expects (``"60"`` to ``60``, ``"true"`` to ``True``, a JSON text to an object) and
    checked against the field catalogue before any request is sent; an invalid value fails the task
    with the field named. Secret values inside ``config``, ``auth`` and
    ``external_secrets_keys_config`` are masked in the rendered fields, the logs and the returned
    value.

    The operator returns the connection's ``data`` after the update, with secrets masked, and pushes
    the dashboard URL that the "Fivetran" extra link opens.

    .. seealso::
        Fivetran's API reference: https://fivetran.com/docs/rest-api/api-reference/connections/modify-connection

    :param connection_id: the id of the Fivetran connection (``connection_id`` in the API; shown in
        the connection's Setup tab), for example ``"decent_dropsy"``. Templated.
    :param fivetran_conn_id: the Airflow connection with the Fivetran API key (login) and secret
        (password).
    :param config: the connection's setup configuration (service-specific); only the keys given are
        changed. A dict or a JSON text.
    :param auth: the connection's authorization settings (service-specific). A dict or a JSON text.
    :param paused: ``True`` pauses the connection, ``False`` resumes it.
    :param trust_certificates: trust the source's TLS certificate automatically during the setup
        tests of this update. Needs ``run_setup_tests=True``.
    :param trust_fingerprints: trust the source's SSH fingerprint automatically during the setup tests
        of this update. Needs ``run_setup_tests=True``.
    :param sync_frequency: minutes between syncs: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720 or 1440.
    :param data_delay_threshold: minutes of delay before Fivetran notifies, used when
        ``data_delay_sensitivity`` is ``"CUSTOM"``.
    :param data_delay_sensitivity: ``"LOW"``, ``"NORMAL"``, ``"HIGH"``, ``"CUSTOM"`` or
        ``"SYNC_FREQUENCY"``.
    :param daily_sync_time: the UTC hour (``"HH:00"``) daily syncs start; for ``sync_frequency=1440``.
    :param pause_after_trial: pause the connection when its free trial ends.
    :param schema_status: ``"blocked_on_capture"`` or ``"ready"`` (Universal Column Masking flow).
    :param is_historical_sync: ``True`` makes the next scheduled sync a full historical re-sync.
    :param schedule_type: ``"auto"`` (Fivetran schedules syncs) or ``"manual"`` (only API-triggered).
    :param run_setup_tests: run the setup tests with this update (not stored; needs a stored field).
    :param networking_method: ``"Directly"``, ``"PrivateLink"``, ``"SshTunnel"`` or ``"ProxyAgent"``.
    :param hybrid_deployment_agent_id: the Hybrid Deployment agent that runs the connection.
    :param proxy_agent_id: the proxy agent the connection goes through.
    :param private_link_id: the private link the connection uses.
    :param destination_configuration: destination-specific settings, e.g.
        ``{"virtual_warehouse": "..."}`` for Snowflake.
    :param external_secrets_manager_id: the external secrets manager the connection reads from.
    :param external_secrets_keys_config: which secrets of the external secrets manager to use.
    :param request_timeout: seconds to wait for Fivetran's answer to one request.
    :param max_retries: how often the hook retries a request Fivetran answered with 429 or 5xx, or did
        not answer, within one task try (Airflow's own ``retries`` then retry the whole task).
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` header wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds.
    """

    # The catalogue is the one list of fields: adding a field there makes it templated here.
    template_fields: Sequence[str] = ("connection_id", *FIELD_NAMES)
    template_fields_renderers = {
        "config": "json",
        "auth": "json",
        "destination_configuration": "json",
        "external_secrets_keys_config": "json",
    }
    operator_extra_links = (FivetranConnectionLink(),)
    ui_color = "#0073FF"

    def __init__(
        self,
        *,
        connection_id: str,
        fivetran_conn_id: str = FivetranHook.default_conn_name,
        config: dict[str, Any] | str | None = None,
        auth: dict[str, Any] | str | None = None,
        paused: bool | str | None = None,
        trust_certificates: bool | str | None = None,
        trust_fingerprints: bool | str | None = None,
        sync_frequency: int | str | None = None,
        data_delay_threshold: int | str | None = None,
        data_delay_sensitivity: str | None = None,
        daily_sync_time: str | None = None,
        pause_after_trial: bool | str | None = None,
        schema_status: str | None = None,
        is_historical_sync: bool | str | None = None,
        schedule_type: str | None = None,
        run_setup_tests: bool | str | None = None,
        networking_method: str | None = None,
        hybrid_deployment_agent_id: str | None = None,
        proxy_agent_id: str | None = None,
        private_link_id: str | None = None,
        destination_configuration: dict[str, Any] | str | None = None,
        external_secrets_manager_id: str | None = None,
        external_secrets_keys_config: dict[str, Any] | str | None = None,
        request_timeout: float = 30.0,
        max_retries: int = 5,
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 60.0,
        **kwargs: Any,
    ) -> None:
        arguments = locals()
        super().__init__(**kwargs)
        if isinstance(connection_id, str) and not connection_id.strip():
            raise ValueError(f"{self.task_id}: connection_id must name a Fivetran connection, got ''.")
        if request_timeout <= 0:
            raise ValueError(
                f"{self.task_id}: request_timeout must be a positive number of seconds,"
                f" got {request_timeout}."
            )
        if max_retries < 0:
            raise ValueError(f"{self.task_id}: max_retries must be 0 or more, got {max_retries}.")
        if retry_min_wait < 0 or retry_max_wait < retry_min_wait:
            raise ValueError(
                f"{self.task_id}: need 0 <= retry_min_wait <= retry_max_wait, "
                f"got {retry_min_wait} and {retry_max_wait}."
            )
        self.connection_id = connection_id
        self.fivetran_conn_id = fivetran_conn_id
        # Field values are only checked after rendering: here they may still be Jinja text or an
        # XComArg. The signature lists every catalogue field (a test keeps the two equal).
        for name in FIELD_NAMES:
            setattr(self, name, arguments.get(name))
        if all(getattr(self, name) is None for name in FIELD_NAMES):
            raise ValueError(
                f"{self.task_id}: nothing to update; pass at least one of: {', '.join(FIELD_NAMES)}."
            )
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.retry_min_wait = retry_min_wait
        self.retry_max_wait = retry_max_wait

    @cached_property
    def hook(self) -> FivetranHook:
        """The Fivetran hook for ``fivetran_conn_id`` (created on first use, never while parsing)."""
        return FivetranHook(
            self.fivetran_conn_id,
            timeout=self.request_timeout,
            max_retries=self.max_retries,
            retry_min_wait=self.retry_min_wait,
            retry_max_wait=self.retry_max_wait,
        )

    def _field_values(self) -> dict[str, Any]:
        """The catalogue fields as currently set (rendered once the task runs), ``None`` included."""
        return {name: getattr(self, name) for name in FIELD_NAMES}

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        # Airflow stores the rendered template fields (shown in the UI) right after rendering, masking
        # only what its secrets masker knows: values registered with mask_secret and keys with
        # sensitive names. Fivetran's secret settings have many other names (client_id, consumer_key,
        # ...), so their rendered values are registered here, before Airflow serializes them. This
        # method is the one rendering step that both plain tasks (through render_template_fields)
        # and mapped tasks (MappedOperator.render_template_fields calls it on the unmapped task) go
        # through.
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        if parent is self:
            self._mask_secrets()

    def _mask_secrets(self) -> None:
        """Register the secret values of the fields that may hold credentials with Airflow's masker."""
        sections: dict[str, Any] = {}
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            try:
                # A rendered JSON text becomes an object, so its secret keys can be found.
                sections[name] = coerce_value(name, value)
            except FivetranValidationError:
                # execute() reports the invalid value; until then treat the whole text as secret.
                sections[name] = value if isinstance(value, str) else json.dumps(value, default=str)
        for secret in secret_values(sections):
            mask_secret(secret)

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate the rendered fields, send the update, and return the connection with secrets masked."""
        if not isinstance(self.connection_id, str) or not self.connection_id.strip():
            raise FivetranValidationError(
                "connection_id",
                f"must be the id of a Fivetran connection, got {self.connection_id!r}.",
            )
        payload = build_update_payload(self._field_values(), coerce=True)
        # Rendering registered these already; this covers an execute() called without rendering.
        for secret in secret_values(payload):
            mask_secret(secret)
        data = self.hook.update_connection(self.connection_id, **payload)
        status = data.get("status") or {}
        self.log.info(
            "Updated Fivetran connection %s with %s; now paused=%s, sync_frequency=%s, setup_state=%s, "
            "sync_state=%s.",
            self.connection_id,
            json.dumps(redact(payload), sort_keys=True, default=str),
            data.get("paused"),
            data.get("sync_frequency"),
            status.get("setup_state"),
            status.get("sync_state"),
        )
        url = connection_dashboard_url({"id": self.connection_id, **data})
        context["ti"].xcom_push(key=DASHBOARD_URL_XCOM_KEY, value=url)
        # The hook already masks secrets; masking again costs nothing and keeps the XCom (stored in
        # the metadata database and shown in the UI) safe whatever the hook returns.
        return redact(data)
