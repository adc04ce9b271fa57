""":class:`FivetranSimulator`: a stateful, offline Fivetran REST API on a loopback port.

The façade composes the core (:mod:`.core`: state, clock, faults, limits, request log), the ASGI
app serving it (:mod:`.app`) and a uvicorn server in a background thread (:mod:`.server`).
Everything a test does in Python can also be done over HTTP under ``/__admin``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from airflow_provider_fivetran_update.testing.app import SimulatorApp
from airflow_provider_fivetran_update.testing.core import SimulatorCore
from airflow_provider_fivetran_update.testing.faults import (
    Fault,
    FaultQueue,
    RateLimiter,
    RecordedRequest,
    RequestLog,
    SetupTestLimiter,
    SetupTestLimits,
)
from airflow_provider_fivetran_update.testing.model import DEFAULT_GROUP_ID, SimulatorState, TimeSource
from airflow_provider_fivetran_update.testing.net import is_loopback
from airflow_provider_fivetran_update.testing.server import BackgroundServer

__all__ = ["AIRFLOW_CONN_ENV", "FivetranSimulator"]

AIRFLOW_CONN_ENV = "AIRFLOW_CONN_FIVETRAN_DEFAULT"


class FivetranSimulator:
    """An offline Fivetran API: connections (read, update, list, group list), sync, re-sync, setup tests.

    Endpoints and behaviours are described in ``docs/simulator-api.md``.

    Nothing is bound until :meth:`start` (or ``with``); connections can be added before.

    :param api_key: the API key clients must send (Basic auth user).
    :param api_secret: the API secret clients must send (Basic auth password).
    :param host: the address to bind; only loopback unless ``allow_non_loopback``.
    :param port: the port to bind; 0 (default) picks a free one.
    :param clock: returns epoch seconds; :func:`time.time` by default. Pass a
        :class:`~.model.ManualClock` for fully deterministic tests, or use :meth:`advance`.
    :param historical_sync_seconds: simulated seconds a historical sync takes.
    :param sync_seconds: simulated seconds an incremental sync takes.
    :param setup_tests_seconds: real seconds setup tests take: a PATCH that runs them (any PATCH
        without ``run_setup_tests: false``) and ``POST /test`` answer that much later. 0 by
        default, so tests stay fast; Fivetran's take seconds to minutes.
    :param setup_test_limits: the account's setup-test rate limit: ``"paid"`` (250 a minute and
        2,500 an hour, as Fivetran documents for paid plans), ``"trial"`` (50 an hour), a list of
        ``(runs, per_seconds)`` pairs, or ``None`` (default: unlimited). Beyond it, a request that
        would run setup tests is answered 429 with ``Retry-After`` and changes nothing.
    :param schedule_scale: simulated seconds per ``sync_frequency`` minute for automatic syncs of
        ``auto`` connections; ``None`` (default): no sync ever starts by itself.
    :param historical_sync_start: when ``PATCH {"is_historical_sync": true}`` starts the sync:
        ``"immediate"`` (default; what the OpenAPI says) or ``"next_scheduled"`` (what the reference
        page says: the next sync, scheduled or requested, is the historical one). Paused and
        ``manual`` connections never start one by themselves.
    :param legacy_connectors_path: also serve the older ``/v1/connectors/...`` paths, including
        ``/v1/groups/{id}/connectors`` and ``POST /v1/connectors/{id}/force``. Off by default: the
        current OpenAPI has no such paths and users reported 404s there from March 2026.
    :param seed: add the demo connections of :meth:`seed_demo` (and restore them on :meth:`reset`).
    :param allow_non_loopback: allow ``host`` to be a non-loopback address.
    :param timeout_keep_alive: seconds an idle keep-alive connection stays open.
    :param log_level: uvicorn's log level.
    :param access_log: log every request.
    """

    def __init__(
        self,
        *,
        api_key: str = "sim-key",
        api_secret: str = "sim-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: TimeSource | None = None,
        historical_sync_seconds: float = 2.0,
        sync_seconds: float = 1.0,
        setup_tests_seconds: float = 0.0,
        setup_test_limits: SetupTestLimits = None,
        schedule_scale: float | None = None,
        historical_sync_start: str = "immediate",
        legacy_connectors_path: bool = False,
        seed: bool = False,
        allow_non_loopback: bool = False,
        timeout_keep_alive: int = 30,
        log_level: str = "warning",
        access_log: bool = False,
    ) -> None:
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(
                f"The Fivetran simulator only binds to loopback addresses, not {host!r}; "
                "pass allow_non_loopback=True to serve other machines."
            )
        self.host = host
        self.core = SimulatorCore(
            api_key=api_key,
            api_secret=api_secret,
            clock=clock,
            historical_sync_seconds=historical_sync_seconds,
            sync_seconds=sync_seconds,
            setup_tests_seconds=setup_tests_seconds,
            setup_test_limits=setup_test_limits,
            schedule_scale=schedule_scale,
            historical_sync_start=historical_sync_start,
            legacy_connectors_path=legacy_connectors_path,
        )
        app = SimulatorApp(self.core)
        self._server = BackgroundServer(
            app,
            transports=app.transports,
            host=host,
            port=port,
            timeout_keep_alive=timeout_keep_alive,
            log_level=log_level,
            access_log=access_log,
        )
        self._port: int | None = None
        if seed:
            self.seed_demo()

    # -- the core's parts, for tests that reach below the façade -----------------------------------

    @property
    def api_key(self) -> str:
        """The API key clients must send."""
        return self.core.api_key

    @api_key.setter
    def api_key(self, value: str) -> None:
        self.core.api_key = value

    @property
    def api_secret(self) -> str:
        """The API secret clients must send."""
        return self.core.api_secret

    @api_secret.setter
    def api_secret(self, value: str) -> None:
        self.core.api_secret = value

    @property
    def setup_tests_seconds(self) -> float:
        """Real seconds setup tests take; settable (see the constructor's parameter)."""
        return self.core.setup_tests_seconds

    @setup_tests_seconds.setter
    def setup_tests_seconds(self, seconds: float) -> None:
        self.core.setup_tests_seconds = seconds

    @property
    def legacy_connectors_path(self) -> bool:
        """Whether the older ``/v1/connectors/...`` paths are served."""
        return self.core.legacy_connectors_path

    @property
    def state(self) -> SimulatorState:
        """The connections and the clock."""
        return self.core.state

    @property
    def faults(self) -> FaultQueue:
        """The armed faults."""
        return self.core.faults

    @property
    def rate_limiter(self) -> RateLimiter:
        """The API rate limit."""
        return self.core.rate_limiter

    @property
    def setup_test_limiter(self) -> SetupTestLimiter:
        """The account's setup-test rate limit."""
        return self.core.setup_test_limiter

    @property
    def request_log(self) -> RequestLog:
        """The recorded ``/v1`` requests."""
        return self.core.request_log

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FivetranSimulator:
        """Bind and serve in a background thread; returns ``self``."""
        self._port = self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving. The state is kept, so the simulator can be started again."""
        self._server.stop()
        self._port = None

    def __enter__(self) -> FivetranSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server.running

    @property
    def port(self) -> int:
        """The bound port (only while running)."""
        if self._port is None:
            raise RuntimeError(
                "The Fivetran simulator is not running; call start() or use it in a with block."
            )
        return self._port

    @property
    def url(self) -> str:
        """The base URL, for example ``http://127.0.0.1:54321`` (only while running)."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}"

    # -- Airflow -------------------------------------------------------------------------------

    def airflow_connection_json(self) -> str:
        """An Airflow connection for this simulator, as JSON (for ``AIRFLOW_CONN_FIVETRAN_DEFAULT``)."""
        return json.dumps(
            {"conn_type": "fivetran", "login": self.api_key, "password": self.api_secret, "host": self.url}
        )

    def airflow_env(self) -> dict[str, str]:
        """Environment variables that point Airflow's ``fivetran_default`` at this simulator."""
        return {AIRFLOW_CONN_ENV: self.airflow_connection_json()}

    # -- connections ---------------------------------------------------------------------------

    def add_connection(
        self,
        connection_id: str,
        *,
        service: str = "postgres",
        group_id: str = DEFAULT_GROUP_ID,
        schema: str | None = None,
        paused: bool = False,
        sync_frequency: int = 360,
        schedule_type: str = "auto",
        setup_state: str = "connected",
        sync_state: str | None = None,
        daily_sync_time: str | None = None,
        config: Mapping[str, Any] | None = None,
        auth: Mapping[str, Any] | None = None,
        broken: bool = False,
        fail_historical_sync: bool = False,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a connection and return its API view (secrets masked).

        :param connection_id: the Fivetran connection id.
        :param service: the connector type, for example ``postgres`` or ``salesforce``.
        :param group_id: the destination group.
        :param schema: the schema name; ``{service}_{connection_id}`` by default.
        :param paused: whether the connection starts paused.
        :param sync_frequency: minutes between syncs.
        :param schedule_type: ``auto`` or ``manual``.
        :param setup_state: ``incomplete``, ``connected`` or ``broken``.
        :param sync_state: the initial ``sync_state``; ``paused`` or ``scheduled`` by default.
            ``syncing`` starts an incremental sync.
        :param daily_sync_time: ``HH:00``, reported when ``sync_frequency`` is 1440.
        :param config: the setup settings (secrets are stored, and masked in answers).
        :param auth: the authorization settings (stored, never answered).
        :param broken: setup tests of this connection fail.
        :param fail_historical_sync: historical syncs of this connection fail.
        :param fields: other top-level fields to report, for example ``pause_after_trial=True``.
        """
        return self.state.add(
            connection_id,
            service=service,
            group_id=group_id,
            schema=schema,
            paused=paused,
            sync_frequency=sync_frequency,
            schedule_type=schedule_type,
            setup_state=setup_state,
            sync_state=sync_state,
            daily_sync_time=daily_sync_time,
            config=config,
            auth=auth,
            broken=broken,
            fail_historical_sync=fail_historical_sync,
            **fields,
        )

    def remove_connection(self, connection_id: str) -> None:
        """Delete a connection; later requests for it answer 404."""
        self.state.remove(connection_id)

    def connection(self, connection_id: str) -> dict[str, Any]:
        """The API's view of a connection (secrets masked), with the time model advanced."""
        return self.state.view(connection_id)

    def raw_connection(self, connection_id: str) -> dict[str, Any]:
        """The stored connection without masking, with ``auth`` and the behaviour flags."""
        return self.state.raw(connection_id)

    def connection_ids(self) -> list[str]:
        """Every connection id, sorted."""
        return self.state.ids()

    def set_status(self, connection_id: str, **status: Any) -> dict[str, Any]:
        """Overwrite what the API reports, for example ``set_status(id, setup_state="broken")``.

        Accepted: ``setup_state``, ``sync_state``, ``update_state``, ``is_historical_sync``,
        ``schema_status``, ``tasks``, ``warnings``, ``rescheduled_for``, ``succeeded_at``,
        ``failed_at`` (timestamps as aware datetimes, ISO strings or epoch seconds). Values hold
        until the time model next changes them (a sync starting or ending, a pause...).
        """
        return self.state.set_status(connection_id, **status)

    def set_behaviour(
        self,
        connection_id: str,
        *,
        broken: bool | None = None,
        fail_historical_sync: bool | None = None,
        fail_syncs: bool | None = None,
    ) -> None:
        """Change whether the connection's next setup tests, historical syncs or all syncs fail.

        ``None`` leaves a behaviour as it is.
        """
        self.state.set_behaviour(
            connection_id, broken=broken, fail_historical_sync=fail_historical_sync, fail_syncs=fail_syncs
        )

    def reschedule_next_sync(self, connection_id: str, seconds: float) -> None:
        """Make the connection's next sync wait ``seconds`` (simulated) as the source's quota is used up.

        Whatever would start that sync (``POST /sync``, ``/resync``, a historical sync, the
        schedule) leaves it in ``sync_state`` ``rescheduled`` with ``status.rescheduled_for`` set.
        At that time an ``auto`` connection starts it; a ``manual`` one waits for ``POST /sync``,
        which also starts it early. One-shot: later syncs start normally.
        """
        self.state.reschedule_next_sync(connection_id, seconds)

    def seed_demo(self) -> list[str]:
        """Add a few demo connections and return their ids."""
        return self.core.seed_demo()

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulated time."""
        return self.core.now()

    def advance(self, seconds: float) -> datetime:
        """Move the simulated time forward (syncs finish, scheduled syncs start) and return it."""
        return self.core.advance(seconds)

    # -- faults and limits ---------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        drop: bool = False,
        malformed: bool = False,
        path: str | None = None,
        method: str | None = None,
        after_apply: bool = False,
    ) -> None:
        """Make the next ``n`` matching ``/v1`` requests fail; see :class:`~.faults.Fault`.

        Faulted requests are recorded and change nothing, except a pure ``delay`` (a slow API),
        which answers normally afterwards if the client is still waiting, and ``after_apply``
        faults, which carry the request out before spoiling its answer.
        """
        self.faults.add(
            Fault(
                status=status,
                headers=headers,
                body=body,
                delay=delay,
                drop=drop,
                malformed=malformed,
                path=path,
                method=method,
                after_apply=after_apply,
            ),
            n,
        )

    def clear_faults(self) -> None:
        """Disarm every pending fault."""
        self.faults.clear()

    @property
    def historical_sync_start(self) -> str:
        """``"immediate"`` or ``"next_scheduled"``; settable (see the constructor's parameter)."""
        return self.state.historical_sync_start

    @historical_sync_start.setter
    def historical_sync_start(self, mode: str) -> None:
        self.state.historical_sync_start = mode

    def set_setup_test_limits(self, limits: SetupTestLimits) -> None:
        """Change the setup-test rate limit (see ``setup_test_limits``); the windows start empty."""
        self.setup_test_limiter.configure(limits)

    def setup_test_count(self, connection_id: str | None = None) -> int:
        """How many times setup tests ran, for one connection or for all."""
        ids = [connection_id] if connection_id is not None else self.state.ids()
        return sum(int(self.state.raw(cid)["setup_test_runs"]) for cid in ids)

    def rate_limit(
        self, requests: int | None, per_seconds: float = 60.0, *, retry_after: int | None = None
    ) -> None:
        """Allow ``requests`` answers per ``per_seconds`` (simulated time), then 429; ``None`` lifts it.

        While a limit is set every answer carries ``X-Rate-Limit`` and ``X-Rate-Limit-Remaining``.
        A 429 says ``Retry-After`` the seconds until the rolling window has room, or
        ``retry_after`` when given (``3600``, as Fivetran documents, tests a client's patience).
        """
        self.rate_limiter.configure(requests, per_seconds, retry_after)

    # -- request log -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every ``/v1`` request received so far (a copy), oldest first."""
        return self.request_log.snapshot()

    def request_count(self, method: str | None = None, path: str | None = None) -> int:
        """How many recorded requests match ``method`` and ``path`` (exact or ``fnmatch`` pattern)."""
        return self.request_log.count(method, path)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self.request_log.clear()

    def reset(self, *, seed: bool | None = None) -> None:
        """Remove every connection, fault, limit and recorded request.

        :param seed: add the demo connections again; by default, only if they were seeded before.
        """
        self.core.reset(seed=seed)

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not running"
        return f"<FivetranSimulator {where}, {len(self.state.ids())} connections>"
