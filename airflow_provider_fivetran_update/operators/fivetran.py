"""Operator that updates a Fivetran connection (re-exports the link and the sync operators)."""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fivetran_update._compat import (
    AirflowFailException,
    BaseOperator,
    conf,
    mask_secret,
    try_number,
)
from airflow_provider_fivetran_update.by_name import FivetranConnectionByName
from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.fields import (
    FIELD_NAMES,
    FIELDS,
    SECRET_FIELD_NAMES,
    build_update_payload,
    coerce_value,
    current_value,
)
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID
from airflow_provider_fivetran_update.links import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    connection_dashboard_url,
)
from airflow_provider_fivetran_update.operators.sync import (
    FivetranResyncConnectionOperator as FivetranResyncConnectionOperator,
)
from airflow_provider_fivetran_update.operators.sync import (
    FivetranSyncConnectionOperator as FivetranSyncConnectionOperator,
)
from airflow_provider_fivetran_update.planning import plan_update
from airflow_provider_fivetran_update.redaction import redact, secret_values
from airflow_provider_fivetran_update.states import (
    SETUP_STATES,
    SYNC_STATES,
    historical_sync_anchor,
    is_rendered_later,
    normalize_expected_states,
)

if TYPE_CHECKING:
    import jinja2

    from airflow_provider_fivetran_update._compat import Context
    from airflow_provider_fivetran_update.waiting import WaitCondition

__all__ = [
    "CHANGES_KEY",
    "DASHBOARD_URL_XCOM_KEY",
    "FivetranConnectionLink",
    "FivetranUpdateConnectionOperator",
    "connection_dashboard_url",
    "plan_update",
]

CHANGES_KEY = "changes"
"""The key the operator adds to its return value with ``only_if_changed`` or ``dry_run``."""

_WAIT_FOR_STATE_KEYS: Mapping[str, tuple[str, ...]] = {"setup_state": SETUP_STATES, "sync_state": SYNC_STATES}
_DEFAULT_TIMEOUT = 7 * 24 * 60 * 60.0  # as BaseSensorOperator's: historical syncs can take days


def _check_literal_fields(task_id: str, fields: Mapping[str, Any]) -> None:
    """Check the field values a DAG file gives literally, so a mistake fails the DAG's import.

    The rules are the catalogue's (:func:`build_update_payload`); templated values wait for
    rendering. When every value is literal the whole update is checked, cross-field rules and
    "nothing to update" included; otherwise each literal value is checked on its own, since a
    cross-field rule may depend on a value not rendered yet.
    """
    try:
        if not any(is_rendered_later(value) for value in fields.values()):
            build_update_payload(fields)
            return
        for name, value in fields.items():
            if value is not None and not is_rendered_later(value):
                coerce_value(name, value)
    except FivetranValidationError as error:
        raise FivetranValidationError(
            error.field, f"{error.problem} (task {task_id!r})", error.allowed
        ) from None


@functools.cache
def _base_operator_arguments() -> frozenset[str]:
    return frozenset(inspect.signature(BaseOperator).parameters)


def _check_argument_names(operator: str, task_id: object, kwargs: Mapping[str, Any]) -> None:
    """Turn a misspelt argument into an error that says what was meant.

    Airflow's own error only lists the arguments it did not expect. A name close to a catalogue
    field fails like an unknown field in an update (with the catalogue's did-you-mean); a name
    close to another argument of this operator fails naming it. Anything else is left to Airflow.
    """
    unknown = [name for name in kwargs if not name.startswith("_") and name not in _base_operator_arguments()]
    if not unknown:
        return
    import difflib

    parameters = inspect.signature(FivetranUpdateConnectionOperator).parameters
    own = [name for name, item in parameters.items() if item.kind is item.KEYWORD_ONLY]
    known = (*own, *_base_operator_arguments())
    for name in unknown:
        match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if not match:
            continue
        if match[0] in FIELDS:
            # Fails as an unknown field of an update does: "did you mean ...?", every field listed.
            _check_literal_fields(str(task_id), {name: None})
        raise TypeError(
            f"{operator} (task_id: {task_id}) got an unknown argument {name!r}; did you mean {match[0]!r}?"
        )


class FivetranUpdateConnectionOperator(FivetranConnectionByName, BaseOperator):
    """Update a Fivetran connection (``PATCH /v1/connections/{connection_id}``).

    Only the fields given (not ``None``) are sent; every other setting stays as it is. Every field
    is templated; rendered values are converted to the API's types and checked against the field
    catalogue before any request, literal ones already when the DAG file is parsed. Secrets are
    masked in the rendered fields, the logs and the return value: the connection's ``data`` after
    the update, with a ``"changes"`` key under ``only_if_changed`` or ``dry_run``. The task can wait
    for the historical sync it requested or for a state, in a worker or in the triggerer.

    .. seealso::
        docs/update-operator.md: change-only updates, dry runs, waiting, retries, the return value.
        Fivetran's API reference: https://fivetran.com/docs/rest-api/api-reference/connections/modify-connection

    :param connection_id: the id of the Fivetran connection (``connection_id`` in the API; shown in
        the connection's Setup tab), for example ``"decent_dropsy"``. Templated.
    :param connection_name: instead of ``connection_id``: the connection's name (its destination
        schema), looked up when the task runs (see docs/sync-operators.md). Templated.
    :param group_id: with ``connection_name``: the destination's group to look in. Templated.
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
    :param only_if_changed: read the connection first and send only the fields that differ;
        send nothing when nothing differs.
    :param dry_run: read the connection, log and return what would change, and send nothing
        (never waits).
    :param wait_for_completion: wait until the historical sync requested with
        ``is_historical_sync=True`` has ended (when ``is_historical_sync`` renders to false, there
        is nothing to wait for). Not together with ``wait_for_state``.
    :param start_sync_if_needed: with ``wait_for_completion``, when Fivetran's answer shows the
        requested historical sync has not started (a connection on a manual schedule, or Fivetran
        waiting for the next scheduled sync), start it with ``POST /v1/connections/{id}/sync``.
        Without it, a connection on a manual schedule fails the task at once instead of waiting
        until the timeout for a sync that will not start. A paused connection fails the task at
        once either way.
    :param wait_for_state: wait until the connection is in these states, e.g.
        ``{"setup_state": "connected", "sync_state": "scheduled"}``; a missing key accepts any
        value (a broken connection still fails unless ``"broken"`` is listed). Templated.
    :param poll_interval: seconds between two reads of the connection while waiting.
    :param timeout: seconds to wait at most, counted from the update; then the task fails.
    :param deferrable: wait in the triggerer instead of a worker slot. Defaults to the
        ``[operators] default_deferrable`` option.
    :param request_timeout: seconds to wait for Fivetran's answer to one request.
    :param max_retries: how often the hook retries a request Fivetran answered with 429 or 5xx, or did
        not answer, within one task try (Airflow's own ``retries`` then retry the whole task).
    :param retry_min_wait: seconds before the first of those retries (a ``Retry-After`` header wins).
    :param retry_max_wait: the longest wait between two of those retries, in seconds; a longer
        ``Retry-After`` fails the request at once (see ``docs/guarantees.md``).
    """

    # The catalogue is the one list of fields: adding a field there makes it templated here.
    template_fields: Sequence[str] = (
        "connection_id",
        "connection_name",
        "group_id",
        *FIELD_NAMES,
        "wait_for_state",
    )
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
        connection_id: str | None = None,
        connection_name: str | None = None,
        group_id: str | None = None,
        fivetran_conn_id: str = DEFAULT_CONN_ID,
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
        only_if_changed: bool = False,
        dry_run: bool = False,
        wait_for_completion: bool = False,
        start_sync_if_needed: bool = False,
        wait_for_state: Mapping[str, str | Collection[str] | None] | None = None,
        poll_interval: float = 60.0,
        timeout: float = _DEFAULT_TIMEOUT,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        request_timeout: float = 30.0,
        max_retries: int = 5,
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 60.0,
        **kwargs: Any,
    ) -> None:
        # Before Airflow's own check of kwargs, whose error does not say what was meant.
        _check_argument_names(type(self).__name__, kwargs.get("task_id"), kwargs)
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
        # One attribute per catalogue field, in catalogue order (a test keeps the signature equal
        # to the catalogue and checks every field is kept).
        self.config = config
        self.auth = auth
        self.paused = paused
        self.trust_certificates = trust_certificates
        self.trust_fingerprints = trust_fingerprints
        self.sync_frequency = sync_frequency
        self.data_delay_threshold = data_delay_threshold
        self.data_delay_sensitivity = data_delay_sensitivity
        self.daily_sync_time = daily_sync_time
        self.pause_after_trial = pause_after_trial
        self.schema_status = schema_status
        self.is_historical_sync = is_historical_sync
        self.schedule_type = schedule_type
        self.run_setup_tests = run_setup_tests
        self.networking_method = networking_method
        self.hybrid_deployment_agent_id = hybrid_deployment_agent_id
        self.proxy_agent_id = proxy_agent_id
        self.private_link_id = private_link_id
        self.destination_configuration = destination_configuration
        self.external_secrets_manager_id = external_secrets_manager_id
        self.external_secrets_keys_config = external_secrets_keys_config
        # Literal values are checked now, templated ones (Jinja text, XComArgs) in execute().
        _check_literal_fields(self.task_id, self._field_values())
        if wait_for_completion and wait_for_state is not None:
            raise ValueError(
                f"{self.task_id}: pass wait_for_completion or wait_for_state, not both; a finished "
                "historical sync already leaves the connection out of 'syncing'."
            )
        if wait_for_completion and is_historical_sync is None:
            raise ValueError(
                f"{self.task_id}: wait_for_completion waits for the historical sync this update "
                "requests; pass is_historical_sync=True (or use wait_for_state)."
            )
        if wait_for_state is not None:
            self._check_wait_for_state(wait_for_state)
        if poll_interval <= 0:
            raise ValueError(f"{self.task_id}: poll_interval must be positive, got {poll_interval}.")
        if timeout <= 0:
            raise ValueError(f"{self.task_id}: timeout must be a positive number of seconds, got {timeout}.")
        self.only_if_changed = only_if_changed
        # BaseOperator.dry_run() is a method (render only); the flag must not shadow it.
        self.is_dry_run = dry_run
        self.wait_for_completion = wait_for_completion
        self.start_sync_if_needed = start_sync_if_needed
        self.wait_for_state = wait_for_state
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable

    def _check_wait_for_state(self, value: Any) -> None:
        """Check ``wait_for_state``'s shape now, and its states when they are not templated."""
        if is_rendered_later(value) and not isinstance(value, Mapping):
            return  # an XComArg or a template rendering to a dict: checked in execute()
        if not isinstance(value, Mapping) or not value or set(value) - set(_WAIT_FOR_STATE_KEYS):
            raise ValueError(
                f"{self.task_id}: wait_for_state must be a dict with 'setup_state' and/or 'sync_state',"
                f" got {value!r}."
            )
        for key, item in value.items():
            if not is_rendered_later(item):
                normalize_expected_states(f"wait_for_state[{key!r}]", item, _WAIT_FOR_STATE_KEYS[key])

    def _expected_states(self) -> tuple[list[str] | None, list[str] | None]:
        """The rendered ``wait_for_state``, validated: accepted setup and sync states."""
        value = self.wait_for_state
        if not isinstance(value, Mapping) or not value or set(value) - set(_WAIT_FOR_STATE_KEYS):
            raise FivetranValidationError(
                "wait_for_state",
                f"expected a dict with 'setup_state' and/or 'sync_state', got {value!r}.",
                tuple(_WAIT_FOR_STATE_KEYS),
            )
        setup_state, sync_state = (
            normalize_expected_states(f"wait_for_state[{key!r}]", value.get(key), allowed)
            for key, allowed in _WAIT_FOR_STATE_KEYS.items()
        )
        return setup_state, sync_state

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
        for name in SECRET_FIELD_NAMES:
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
        """Validate, compare (when asked), send the update, wait (when asked); see the class doc."""
        self.connection_id = self.resolve_connection_id(context)
        payload = build_update_payload(self._field_values(), coerce=True)
        # Rendering registered these already; this covers an execute() called without rendering.
        for secret in secret_values(payload):
            mask_secret(secret)
        expected = self._expected_states() if self.wait_for_state is not None else None
        resync_requested = payload.get("is_historical_sync") is True
        ti = context["ti"]
        retry = try_number(context) > 1

        to_send: dict[str, Any] = payload
        current: dict[str, Any] | None = None
        changes: dict[str, dict[str, Any]] | None = None
        if self.only_if_changed or self.is_dry_run or (retry and resync_requested):
            current = self.hook.get_connection_details(self.connection_id)
            if self.only_if_changed or self.is_dry_run:
                to_send, changes = plan_update(payload, current)
                self._log_plan(payload, to_send, changes)
            elif current_value("is_historical_sync", current) is True:
                to_send = self._without_pending_resync(payload)
        ti.xcom_push(key=DASHBOARD_URL_XCOM_KEY, value=connection_dashboard_url(self.connection_id))

        if self.is_dry_run:
            assert current is not None and changes is not None
            self.log.info(
                "Dry run: Fivetran connection %s was not changed%s.",
                self.connection_id,
                f"; an update would send {json.dumps(redact(to_send), sort_keys=True)}" if to_send else "",
            )
            return self._result(current, changes)

        requested_at: float | None = None
        if to_send:
            # Read before the request leaves: a sync cannot end before it was requested.
            requested_at = time.time()
            data = self.hook.update_connection(self.connection_id, **to_send)
            self._log_update(to_send, data)
        else:
            assert current is not None
            data = current

        # Imported here: declaring the operator in a DAG file does not need the wait machinery.
        from airflow_provider_fivetran_update.waiting import WaitCondition

        if self.wait_for_completion:
            if not resync_requested:
                self.log.info("is_historical_sync is not true: there is no historical sync to wait for.")
                return self._result(data, changes)
            completed_after = historical_sync_anchor(
                current,
                data,
                requested_at=requested_at if "is_historical_sync" in to_send else None,
            )
            self._see_that_the_resync_starts(data)
            condition = WaitCondition.historical_sync(completed_after=completed_after)
        elif expected is not None:
            condition = WaitCondition.state(expected_setup_state=expected[0], expected_sync_state=expected[1])
        else:
            return self._result(data, changes)
        return self._wait(context, condition, data, changes)

    def _see_that_the_resync_starts(self, data: Mapping[str, Any]) -> None:
        """Start the requested historical sync, or fail at once, where Fivetran will not start it.

        The reference page says the *next scheduled* sync is historical; the OpenAPI says it starts
        at once. Either way a paused connection, or one on a manual schedule, does not start it by
        itself, and a wait would only end at its timeout.
        """
        status = data.get("status") or {}
        if status.get("sync_state") == "syncing" or status.get("is_historical_sync") is not True:
            return
        sync_path = f"POST /v1/connections/{self.connection_id}/sync"
        if data.get("paused") is True:
            raise AirflowFailException(
                f"Fivetran connection {self.connection_id!r} is paused: the historical sync it was asked "
                "for stays pending and starts only when the connection is resumed, so this task does not "
                "wait for it (start_sync_if_needed does not resume a connection). Resume it in the same "
                "update (paused=False) or first, then run this task again."
            )
        manual = data.get("schedule_type") == "manual"
        if self.start_sync_if_needed:
            self.log.info(
                "Fivetran connection %s has not started its historical sync (%s); starting it with %s "
                "(start_sync_if_needed=True).",
                self.connection_id,
                "manual schedule" if manual else "it would wait for the next scheduled sync",
                sync_path,
            )
            self.hook.sync_connection(self.connection_id)
            return
        if manual:
            raise AirflowFailException(
                f"Fivetran connection {self.connection_id!r} is on a manual schedule: Fivetran starts the "
                "historical sync it was asked for only when a sync is triggered, so this task does not "
                f"wait for it. Pass start_sync_if_needed=True to have the task send {sync_path}, or "
                "trigger the sync yourself and wait with FivetranConnectionStateSensor."
            )
        self.log.info(
            "Fivetran connection %s starts its historical sync with its next scheduled sync (every %s "
            "minutes); this task waits for it. Pass start_sync_if_needed=True to start it at once.",
            self.connection_id,
            data.get("sync_frequency"),
        )

    def _without_pending_resync(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload of a retry, without the historical sync Fivetran still reports pending."""
        self.log.info(
            "This is a retry, and Fivetran connection %s still reports a historical sync pending or "
            "running (status.is_historical_sync is true), likely the one an earlier try requested. "
            "is_historical_sync is not sent again: that would make Fivetran start it over.",
            self.connection_id,
        )
        rest = {name: value for name, value in payload.items() if name != "is_historical_sync"}
        return rest if any(FIELDS[name].persistent for name in rest) else {}

    def _log_plan(
        self, payload: Mapping[str, Any], to_send: Mapping[str, Any], changes: Mapping[str, Any]
    ) -> None:
        if changes:
            self.log.info(
                "Fivetran connection %s: %d field(s) differ from the requested values: %s",
                self.connection_id,
                len(changes),
                json.dumps(changes, sort_keys=True, default=str),
            )
        else:
            self.log.info(
                "Fivetran connection %s already has every requested value; no update is needed.",
                self.connection_id,
            )
        dropped = [name for name in payload if not FIELDS[name].persistent and name not in to_send]
        if dropped:
            self.log.info(
                "Not sent: %s (they only steer the setup tests of an update, and nothing else changes).",
                ", ".join(dropped),
            )

    def _log_update(self, sent: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        status = data.get("status") or {}
        self.log.info(
            "Updated Fivetran connection %s with %s; now paused=%s, sync_frequency=%s, setup_state=%s, "
            "sync_state=%s.",
            self.connection_id,
            json.dumps(redact(sent), sort_keys=True, default=str),
            data.get("paused"),
            data.get("sync_frequency"),
            status.get("setup_state"),
            status.get("sync_state"),
        )

    @staticmethod
    def _result(data: Mapping[str, Any], changes: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
        # The hook already masks secrets; masking again costs nothing and keeps the XCom (stored in
        # the metadata database and shown in the UI) safe whatever the hook returns.
        result = redact(data)
        if changes is not None:
            result[CHANGES_KEY] = changes
        return result

    def _wait(
        self,
        context: Context,
        condition: WaitCondition,
        connection: dict[str, Any],
        changes: dict[str, dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """Wait in the worker, or defer; the first check judges the answer the task already has."""
        from airflow_provider_fivetran_update.waiting import settle, wait_in_task

        result = wait_in_task(
            self,
            context,
            self.connection_id,
            condition,
            deadline=time.time() + self.timeout,
            poll_interval=self.poll_interval,
            known=connection,
            resume_kwargs={"changes": changes},
        )
        settle(result, connection_id=self.connection_id, timeout_error=self._timeout_error)
        return self._result(result.connection or connection, changes)

    def _timeout_error(self, last: str) -> AirflowFailException:
        """The error of a wait that timed out: final (no retry), saying what was seen last."""
        text = f"Timed out after {self.timeout:g} s waiting: {last}"
        if self.wait_for_completion:
            text += (
                " The historical sync may still be running in Fivetran; clearing this task waits for "
                "it again without requesting another one."
            )
        return AirflowFailException(text)

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        changes: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger: return the connection on success, raise on anything else.

        ``failed`` (broken connection, failed historical sync) and ``timeout`` raise
        :class:`AirflowFailException` (no retry); ``error`` raises
        :class:`~airflow_provider_fivetran_update.exceptions.FivetranError`, which Airflow retries.
        A retry that Airflow resumes here with the event of the try that deferred starts over.
        """
        from airflow_provider_fivetran_update.waiting import replays_an_earlier_try, settle

        if replays_an_earlier_try(self, context):
            return self.execute(context)
        result = settle(event, connection_id=self.connection_id, timeout_error=self._timeout_error)
        self.log.info("%s", result.message)
        return self._result(result.connection or result.state or {}, changes)
