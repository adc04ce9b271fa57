"""The Fivetran hook: the provider's one way to talk to the Fivetran REST API.

Workers use ``requests`` (one ``Session`` per hook, so calls reuse the TCP connection);
triggers use ``httpx.AsyncClient`` (one per hook and event loop). Both paths build requests,
read answers and retry through :mod:`airflow_provider_fivetran_update.api`, so they behave
the same. Every returned connection is redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_fivetran_update import _compat
from airflow_provider_fivetran_update._compat import BaseHook
from airflow_provider_fivetran_update.api import (
    ApiRequest,
    RetryableAPIError,
    RetryPolicy,
    basic_auth_forms,
    build_request,
    copy_api_error,
    normalize_base_url,
    parse_response,
    scrub,
    transport_error,
)
from airflow_provider_fivetran_update.clock import SYSTEM_CLOCK, Clock
from airflow_provider_fivetran_update.exceptions import (
    FivetranAPIError,
    FivetranError,
    FivetranValidationError,
)
from airflow_provider_fivetran_update.fields import (
    build_update_payload,
    runs_setup_tests,
    update_warnings,
    with_setup_test_policy,
)
from airflow_provider_fivetran_update.get_provider_info import connection_form
from airflow_provider_fivetran_update.hooks.options import DEFAULT_CONN_ID, HookOptions
from airflow_provider_fivetran_update.ids import check_connection_id
from airflow_provider_fivetran_update.pacing import QuotaPacer, pacer_for
from airflow_provider_fivetran_update.redaction import redact, secret_values
from airflow_provider_fivetran_update.syncing import normalize_resync_scope, pick_connection_by_name

if TYPE_CHECKING:
    import ssl

    import httpx
    import requests

    from airflow_provider_fivetran_update._compat import Connection

log = logging.getLogger(__name__)

CONNECTION_PATH = "/v1/connections/{connection_id}"
CONNECTIONS_PATH = "/v1/connections"
SYNC_PATH = "/v1/connections/{connection_id}/sync"
RESYNC_PATH = "/v1/connections/{connection_id}/resync"
SETUP_TESTS_PATH = "/v1/connections/{connection_id}/test"
GROUP_CONNECTIONS_PATH = "/v1/groups/{group_id}/connections"
ACCOUNT_INFO_PATH = "/v1/account/info"
MAX_PAGE_SIZE = 1000  # the API maximum: fewer requests against the rate limit


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every async client in the process.

    Building one loads the CA bundle (about 35 ms of CPU and 1 MB): a triggerer running a thousand
    Fivetran triggers would otherwise pay that a thousand times. The context is built as httpx
    builds its default one (certifi, or SSL_CERT_FILE / SSL_CERT_DIR from the environment).
    """
    import httpx

    return httpx.create_ssl_context(trust_env=True)


def _idempotent(payload: dict[str, Any]) -> bool:
    """Whether sending ``payload`` twice does the same as sending it once.

    Setting a value twice is harmless, but a second ``is_historical_sync: true`` cancels and
    restarts the historical sync the first one started, and a second update that runs setup tests
    runs them again: they can take minutes and count against Fivetran's setup-test rate limit.
    """
    return payload.get("is_historical_sync") is not True and not runs_setup_tests(payload)


def _cause(request: ApiRequest, exc: BaseException) -> BaseException | None:
    """``exc`` to chain to the error raised for it, or ``None`` when its text holds a secret.

    A client library may quote what it received (``BadStatusLine``, ``illegal status line``) and
    so repeat an echoed ``Authorization`` header; the error raised instead says what happened.
    """
    text = str(exc)
    return exc if scrub(text, request.secrets) == text else None


_HISTORICAL_SYNC_NOT_REPEATED = (
    "Fivetran may have started the historical sync although the request failed; it was not "
    "sent again because a second request restarts the sync. Check the connection's "
    "status.is_historical_sync before retrying"
)
_UPDATE_NOT_REPEATED = (
    "Fivetran may have carried out the update although no usable answer came. It was not sent "
    "again because a second request would start the historical sync over (is_historical_sync) or "
    "run the setup tests again (they run inside the request, can take minutes and count against "
    "Fivetran's setup-test rate limit). Check the connection's status.is_historical_sync and "
    "status.setup_state before retrying. For updates that run setup tests, raise request_timeout, "
    "or use only_if_changed=True so that a task retry sends only what did not land"
)


def _not_repeated(error: RetryableAPIError, hint: str = _HISTORICAL_SYNC_NOT_REPEATED) -> FivetranAPIError:
    """The error for a request that was not sent again on purpose, saying why."""
    return copy_api_error(
        error,
        FivetranAPIError,
        hint=hint,
    )


@contextlib.contextmanager
def _not_repeated_errors(idempotent: bool, hint: str) -> Iterator[None]:
    """Around a call's retries: a request that may have been carried out, and that the policy did
    not send again (not idempotent), fails with :func:`_not_repeated`'s error, saying why."""
    try:
        yield
    except RetryableAPIError as error:
        if idempotent or not error.maybe_applied:
            raise
        raise _not_repeated(error, hint) from error


@dataclass(frozen=True)
class _Credentials:
    api_key: str
    api_secret: str = field(repr=False)
    base_url: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.api_key, self.api_secret)

    def secrets(self) -> tuple[str, ...]:
        """What Airflow's masker must hide: the key, the secret and their basic-auth forms.

        Only the plain secret would otherwise be masked, and an answer (or a proxy's error page)
        that echoes the ``Authorization`` header would put the credential in the task log.
        """
        return (self.api_key, self.api_secret, *basic_auth_forms(self.api_key, self.api_secret))

    def request(
        self,
        method: str,
        path: str,
        *,
        connection_id: str | None,
        json: Any | None,
        params: Mapping[str, Any] | None,
    ) -> ApiRequest:
        """The request to this account's base URL, knowing which secrets it carries."""
        return build_request(
            self.base_url,
            method,
            path,
            connection_id=connection_id,
            json=json,
            params=params,
            auth=self.auth,
        )


class FivetranHook(BaseHook):
    """Interact with Fivetran connections through the Fivetran REST API.

    The Airflow connection holds the API key as *Login*, the API secret as *Password* and,
    optionally, the API base URL as *Host* (default ``https://api.fivetran.com``). Connections
    made for the astronomer ``airflow-provider-fivetran-async`` package work unchanged; their
    extras are ignored.

    :param fivetran_conn_id: the Airflow connection id holding the Fivetran API key and secret.
    :param timeout: seconds to wait for Fivetran's answer to one request.
    :param connect_timeout: seconds to wait for the TCP/TLS connection to be made.
    :param max_retries: retries after the first attempt, for 429, 5xx and network failures.
    :param retry_min_wait: the first backoff in seconds (doubles per retry, with jitter).
    :param retry_max_wait: the cap on any single wait in seconds, ``Retry-After`` included.
    """

    conn_name_attr = "fivetran_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "fivetran"
    hook_name = "Fivetran"

    clock: Clock = SYSTEM_CLOCK
    """What the async requests' deadlines are measured against and their waits sleep on (a trigger
    gives its hook its own clock)."""

    def __init__(
        self,
        fivetran_conn_id: str = default_conn_name,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_retries: int = 5,
        retry_min_wait: float = 1.0,
        retry_max_wait: float = 60.0,
    ) -> None:
        super().__init__()
        self.options = HookOptions(
            fivetran_conn_id,
            request_timeout=timeout,
            max_retries=max_retries,
            retry_min_wait=retry_min_wait,
            retry_max_wait=retry_max_wait,
        )
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, got {connect_timeout}.")
        self.fivetran_conn_id = fivetran_conn_id
        self.timeout = self.options.request_timeout
        self.connect_timeout = float(connect_timeout)
        self.retry_policy = RetryPolicy(
            max_retries=max_retries,
            min_wait=self.options.retry_min_wait,
            max_wait=self.options.retry_max_wait,
        )
        self._credentials: _Credentials | None = None
        self._session: requests.Session | None = None
        self._async_client: httpx.AsyncClient | None = None
        self._async_client_loop: asyncio.AbstractEventLoop | None = None
        # The setup-test policy is explained once per hook at INFO (a task's one update), then at
        # DEBUG: a hook that sends hundreds of updates should not pay for the same line each time.
        self._policy_explained = False

    # -- Airflow UI -----------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels and hidden fields of the connection form."""
        return connection_form()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """No extra fields: key, secret and base URL fit the standard ones."""
        return {}

    # -- credentials ----------------------------------------------------------------------------

    def _credentials_from(self, conn: Connection) -> _Credentials:
        api_key, api_secret = conn.login or "", conn.password or ""
        missing = [
            what
            for what, value in (
                ("Login (the Fivetran API key)", api_key),
                ("Password (the Fivetran API secret)", api_secret),
            )
            if not value
        ]
        if missing:
            raise FivetranError(
                f"Airflow connection {self.fivetran_conn_id!r} has no {' and no '.join(missing)}. "
                "Set it in Admin > Connections, or in AIRFLOW_CONN_"
                f"{self.fivetran_conn_id.upper()} (login = API key, password = API secret)."
            )
        return _Credentials(api_key, api_secret, normalize_base_url(conn.host, conn.port))

    def _get_credentials(self) -> _Credentials:
        if self._credentials is None:
            credentials = self._credentials_from(self.get_connection(self.fivetran_conn_id))
            for secret in credentials.secrets():
                _compat.mask_secret(secret)
            self._credentials = credentials
        return self._credentials

    async def _aget_credentials(self) -> _Credentials:
        if self._credentials is None:
            conn = await _compat.aget_airflow_connection(self.fivetran_conn_id)
            credentials = self._credentials_from(conn)
            for secret in credentials.secrets():
                await _compat.amask_secret(secret)
            self._credentials = credentials
        return self._credentials

    # -- sync transport (requests) --------------------------------------------------------------

    def get_conn(self) -> requests.Session:
        """The hook's ``requests.Session`` (basic auth set), created on first use."""
        if self._session is None:
            import requests

            credentials = self._get_credentials()
            session = requests.Session()
            session.auth = (credentials.api_key, credentials.api_secret)
            self._session = session
        return self._session

    def close(self) -> None:
        """Close the sync session (its pooled connections)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def _request(
        self,
        method: str,
        path: str,
        *,
        connection_id: str | None = None,
        json: Any | None = None,
        params: dict[str, Any] | None = None,
        require_data: bool = True,
        policy: RetryPolicy | None = None,
        idempotent: bool = True,
        not_repeated_hint: str = _HISTORICAL_SYNC_NOT_REPEATED,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        session = self.get_conn()
        credentials = self._get_credentials()
        request = credentials.request(method, path, connection_id=connection_id, json=json, params=params)

        timeouts = self._attempt_timeouts(deadline)
        pacer = pacer_for(credentials)

        def send_once() -> dict[str, Any]:
            booked = pacer.wait(deadline)
            started = time.monotonic()
            try:
                response = session.request(
                    request.method,
                    request.url,
                    headers=dict(request.headers),
                    json=request.json,
                    params=request.params,
                    timeout=next(timeouts),
                )
            except Exception as exc:
                raise self._no_answer(request, exc, started) from _cause(request, exc)
            return self._answer(request, response, pacer, booked, started, require_data=require_data)

        with _not_repeated_errors(idempotent, not_repeated_hint):
            return (policy or self.retry_policy).call(
                send_once, logger=log, idempotent=idempotent, deadline=deadline
            )

    # -- async transport (httpx) ----------------------------------------------------------------

    async def _aget_client(self) -> httpx.AsyncClient:
        # Credentials first: with no await between the check and the assignment below, two
        # coroutines asking at once cannot each open a client (and leak one).
        credentials = await self._aget_credentials()
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_client_loop is not loop:
            import httpx

            # A client's pooled connections belong to the loop that opened them; a hook reused
            # from another loop (a new asyncio.run, another trigger) gets a client of its own.
            self._async_client = httpx.AsyncClient(
                auth=(credentials.api_key, credentials.api_secret),
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                verify=_shared_ssl_context(),
            )
            self._async_client_loop = loop
        return self._async_client

    async def aopen(self) -> None:
        """Read the credentials and open the async client now, rather than on the first request."""
        await self._aget_client()

    async def aclose(self) -> None:
        """Close the async client, if it was opened on the running event loop."""
        client, client_loop = self._async_client, self._async_client_loop
        self._async_client = None
        self._async_client_loop = None
        if client is not None and client_loop is asyncio.get_running_loop():
            await client.aclose()

    async def _arequest(
        self,
        method: str,
        path: str,
        *,
        connection_id: str | None = None,
        json: Any | None = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
        deadline: float | None = None,
        not_repeated_hint: str = _HISTORICAL_SYNC_NOT_REPEATED,
    ) -> dict[str, Any]:
        import httpx

        client = await self._aget_client()
        credentials = await self._aget_credentials()
        request = credentials.request(method, path, connection_id=connection_id, json=json, params=params)

        timeouts = self._attempt_timeouts(deadline, self.clock)
        pacer = pacer_for(credentials)

        async def send_once() -> dict[str, Any]:
            booked = await pacer.await_turn(deadline, clock=self.clock)
            started = time.monotonic()
            connect, read = next(timeouts)
            try:
                response = await client.request(
                    request.method,
                    request.url,
                    headers=dict(request.headers),
                    json=request.json,
                    params=request.params,
                    timeout=httpx.Timeout(read, connect=connect),
                )
            except Exception as exc:
                raise self._no_answer(request, exc, started) from _cause(request, exc)
            return self._answer(request, response, pacer, booked, started)

        with _not_repeated_errors(idempotent, not_repeated_hint):
            return await self.retry_policy.acall(
                send_once, logger=log, idempotent=idempotent, deadline=deadline, clock=self.clock
            )

    # -- shared helpers -------------------------------------------------------------------------

    def _attempt_timeouts(
        self, deadline: float | None, now: Callable[[], float] = time.time
    ) -> Iterator[tuple[float, float]]:
        """(connect, read) timeouts of each attempt of one call.

        The first attempt gets the full timeouts, even at the deadline: a wait takes one last
        look then, which is why a wait may end up to one request timeout after its deadline. The
        policy starts a retry only before the deadline, and a retry never waits past it.
        """
        yield self.connect_timeout, self.timeout
        while True:
            left = math.inf if deadline is None else max(deadline - now(), 0.001)
            yield min(self.connect_timeout, left), min(self.timeout, left)

    @staticmethod
    def _answer(
        request: ApiRequest,
        response: requests.Response | httpx.Response,
        pacer: QuotaPacer,
        booked: float,
        started: float,
        *,
        require_data: bool = True,
    ) -> dict[str, Any]:
        """Read an answer of either transport: tell the pacer, log it, and parse it."""
        pacer.observe(response.headers, booked)
        # DEBUG: writing a task-log line costs more than a request to a nearby API; the tasks log
        # one INFO line per update themselves, and retries are logged at WARNING.
        log.debug(
            "Fivetran API %s %s -> %s in %.0f ms",
            request.method,
            request.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return parse_response(
            request, response.status_code, response.headers, response.content, require_data=require_data
        )

    @staticmethod
    def _no_answer(request: ApiRequest, exc: Exception, started: float) -> Exception:
        error = transport_error(request, exc)
        if error is None:
            return exc
        log.info(
            "Fivetran API %s %s -> no answer (%s) after %.0f ms",
            request.method,
            request.path,
            type(exc).__name__,
            (time.monotonic() - started) * 1000,
        )
        return error

    @staticmethod
    def _list_params(group_id: str | None, limit: int | None, cursor: str | None) -> dict[str, Any]:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise FivetranValidationError("limit", f"must be a positive integer, got {limit!r}.")
        return {
            "group_id": group_id,
            "limit": min(limit, MAX_PAGE_SIZE) if limit is not None else MAX_PAGE_SIZE,
            "cursor": cursor,
        }

    # -- public API -----------------------------------------------------------------------------

    def get_connection_details(self, connection_id: str, *, deadline: float | None = None) -> dict[str, Any]:
        """Return the Fivetran connection (``GET /v1/connections/{id}``), secrets masked.

        :param deadline: epoch seconds; retries neither start nor wait past it (see
            :class:`~airflow_provider_fivetran_update.api.RetryPolicy`).
        """
        connection_id = check_connection_id(connection_id)
        return redact(self._request("GET", CONNECTION_PATH, connection_id=connection_id, deadline=deadline))

    def _update_body(self, connection_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The body every update sends: validated, with the setup-test policy applied, warnings logged.

        This is the one place the policy is applied: the update operator and the maintenance window
        reach Fivetran through :meth:`update_connection` too.
        """
        payload = with_setup_test_policy(build_update_payload(fields))
        for warning in update_warnings(payload):
            log.warning("Fivetran connection %s: %s", connection_id, warning)
        if "run_setup_tests" not in fields and payload.get("run_setup_tests") is False:
            log.log(
                logging.DEBUG if self._policy_explained else logging.INFO,
                "Fivetran connection %s: sent with run_setup_tests=false, since this update changes "
                "nothing the setup tests check; pass run_setup_tests=True to run them anyway.",
                connection_id,
            )
            self._policy_explained = True
        return payload

    @staticmethod
    def _check_answer(connection_id: str, payload: dict[str, Any], data: dict[str, Any]) -> None:
        frequency = data.get("sync_frequency")
        if "daily_sync_time" in payload and "sync_frequency" not in payload and frequency not in (None, 1440):
            log.warning(
                "Fivetran connection %s syncs every %s minutes: the daily_sync_time sent applies only "
                "while it syncs every 1440 minutes.",
                connection_id,
                frequency,
            )

    def update_connection(self, connection_id: str, **fields: Any) -> dict[str, Any]:
        """Update a Fivetran connection (``PATCH /v1/connections/{id}``); return it, secrets masked.

        The fields are validated and coerced by the field catalogue first: invalid input raises
        :class:`FivetranValidationError` and sends nothing. ``None`` values are left unchanged.
        Unless ``run_setup_tests`` is given, an update that touches nothing the setup tests check is
        sent with ``run_setup_tests: false`` (see
        :func:`~airflow_provider_fivetran_update.fields.with_setup_test_policy`). An update that
        starts a historical sync or runs setup tests is not sent again after a failure that may
        have been applied (no answer, 500, 502, 504).
        """
        connection_id = check_connection_id(connection_id)
        payload = self._update_body(connection_id, fields)
        for secret in secret_values(payload):
            _compat.mask_secret(secret)
        data = self._request(
            "PATCH",
            CONNECTION_PATH,
            connection_id=connection_id,
            json=payload,
            idempotent=_idempotent(payload),
            not_repeated_hint=_UPDATE_NOT_REPEATED,
        )
        self._check_answer(connection_id, payload, data)
        return redact(data)

    def list_connections(
        self, *, group_id: str | None = None, limit: int | None = None, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """List Fivetran connections (all pages), optionally of one group and at most ``limit``."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self._request(
                "GET", CONNECTIONS_PATH, params=self._list_params(group_id, limit, cursor), deadline=deadline
            )
            items.extend(redact(item) for item in page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    def sync_connection(self, connection_id: str, *, force: bool = False) -> dict[str, Any]:
        """Start a sync now (``POST /v1/connections/{id}/sync``); return Fivetran's answer.

        Without ``force`` Fivetran starts nothing while a sync runs, so the request is retried like
        a read. With ``force`` a second request would restart the sync the first one started: it
        is not sent again once Fivetran may have received it.
        """
        connection_id = check_connection_id(connection_id)
        return self._request(
            "POST",
            SYNC_PATH,
            connection_id=connection_id,
            json={"force": bool(force)},
            require_data=False,
            idempotent=not force,
            not_repeated_hint="Fivetran may have restarted the sync although the request failed; it "
            "was not sent again because a second forced sync restarts it. Check the connection's "
            "sync_state before retrying",
        )

    def resync_connection(
        self, connection_id: str, *, scope: Mapping[str, Sequence[str]] | str | None = None
    ) -> dict[str, Any]:
        """Start a historical re-sync (``POST /v1/connections/{id}/resync``); return Fivetran's answer.

        :param scope: ``{"schema": ["table", ...]}`` to re-sync only those tables (a dict or its JSON
            text), or ``None`` for the whole connection. Checked before anything is sent.

        A second request would restart the re-sync the first one started, so once Fivetran may
        have received it the request is not sent again (the error says so).
        """
        connection_id = check_connection_id(connection_id)
        checked = normalize_resync_scope(scope)
        return self._request(
            "POST",
            RESYNC_PATH,
            connection_id=connection_id,
            json={} if checked is None else {"scope": checked},
            require_data=False,
            idempotent=False,
        )

    def run_setup_tests(
        self, connection_id: str, *, trust_certificates: bool = False, trust_fingerprints: bool = False
    ) -> dict[str, Any]:
        """Run the connection's setup tests (``POST /v1/connections/{id}/test``); return it, redacted.

        The answer carries ``setup_tests`` and ``status.setup_state`` as the tests left them.
        (Not ``test_connection``: that name is Airflow's check of the hook's own credentials.)
        """
        connection_id = check_connection_id(connection_id)
        body = {
            "trust_certificates": bool(trust_certificates),
            "trust_fingerprints": bool(trust_fingerprints),
        }
        return redact(self._request("POST", SETUP_TESTS_PATH, connection_id=connection_id, json=body))

    def list_group_connections(self, group_id: str, *, schema: str | None = None) -> list[dict[str, Any]]:
        """The connections of one group, every page (``GET /v1/groups/{group_id}/connections``).

        :param schema: only the connection with this name (its destination schema); Fivetran
            filters, so a lookup by name is one short request per group.
        """
        if (
            not isinstance(group_id, str)
            or not group_id.strip()
            or group_id != group_id.strip()
            or group_id in (".", "..")
        ):
            raise FivetranValidationError(
                "group_id", f"must be a Fivetran group id without blanks, got {group_id!r}."
            )
        path = GROUP_CONNECTIONS_PATH.replace("{group_id}", quote(group_id, safe=""))
        return self._list_pages(path, {"schema": schema})

    def find_connection_by_name(self, name: str, *, group_id: str | None = None) -> dict[str, Any]:
        """The connection named ``name`` (its destination schema), in ``group_id`` or in any group.

        One paginated listing, filtered by name: the group's connections, or the account's when
        ``group_id`` is ``None``. Raises :class:`FivetranError` when no connection or more than one
        (the same name in several destinations) is found, naming the candidates.
        """
        if not isinstance(name, str) or not name.strip():
            raise FivetranValidationError("connection_name", f"must be a connection name, got {name!r}.")
        if group_id is None:
            items = self._list_pages(CONNECTIONS_PATH, {"schema": name})
        else:
            items = self.list_group_connections(group_id, schema=name)
        return pick_connection_by_name(name, items, group_ids=None if group_id is None else [group_id])

    def _list_pages(self, path: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self._request("GET", path, params={**filters, "limit": MAX_PAGE_SIZE, "cursor": cursor})
            items.extend(redact(item) for item in page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and secret with ``GET /v1/account/info`` (one attempt); never raises."""
        try:
            data = self._request("GET", ACCOUNT_INFO_PATH, policy=RetryPolicy(max_retries=0))
        except Exception as error:
            message = str(error) if isinstance(error, FivetranError) else f"{type(error).__name__}: {error}"
            if self._credentials is not None:  # errors of the API are scrubbed; others may not be
                message = scrub(message, self._credentials.secrets())
            return False, message
        account = data.get("account_name") or data.get("account_id") or "unknown account"
        return True, f"Connected to Fivetran account {account!r}."

    async def aget_connection_details(
        self, connection_id: str, *, deadline: float | None = None
    ) -> dict[str, Any]:
        """Async :meth:`get_connection_details` (httpx), for triggers."""
        connection_id = check_connection_id(connection_id)
        return redact(
            await self._arequest("GET", CONNECTION_PATH, connection_id=connection_id, deadline=deadline)
        )

    async def aupdate_connection(self, connection_id: str, **fields: Any) -> dict[str, Any]:
        """Async :meth:`update_connection` (httpx)."""
        connection_id = check_connection_id(connection_id)
        payload = self._update_body(connection_id, fields)
        for secret in secret_values(payload):
            await _compat.amask_secret(secret)
        data = await self._arequest(
            "PATCH",
            CONNECTION_PATH,
            connection_id=connection_id,
            json=payload,
            idempotent=_idempotent(payload),
            not_repeated_hint=_UPDATE_NOT_REPEATED,
        )
        self._check_answer(connection_id, payload, data)
        return redact(data)

    async def alist_connections(
        self, *, group_id: str | None = None, limit: int | None = None, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """Async :meth:`list_connections` (httpx)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self._arequest(
                "GET", CONNECTIONS_PATH, params=self._list_params(group_id, limit, cursor), deadline=deadline
            )
            items.extend(redact(item) for item in page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items


__all__ = ["FivetranHook"]
