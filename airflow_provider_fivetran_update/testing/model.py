"""The simulator's state model: Fivetran connections and how they change over time.

Nothing here knows about HTTP. :class:`SimulatorState` holds the connections behind one lock and
advances them lazily: every read or change first brings the connection up to "now" (a sync whose
duration has elapsed is finished, a due automatic sync is started), so no background task runs and
a test that controls the clock controls everything. The time model (pauses, syncs, historical
syncs, setup tests, rescheduled syncs) is described in ``docs/simulator-api.md``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from airflow_provider_fivetran_update.redaction import SECRET_MASK, redact

# State names are facts the provider shares with Fivetran, declared once in states.py. What a PATCH
# may hold and what is stored come from the simulator's own reading of Fivetran (fivetran_rules.py),
# never from fields.py, so that the simulator does not judge requests with the provider's rules.
from airflow_provider_fivetran_update.states import SETUP_STATES, SYNC_STATES
from airflow_provider_fivetran_update.testing.fivetran_rules import SCHEDULE_TYPES, SETUP_TEST_ONLY_FIELDS

__all__ = [
    "HISTORICAL_SYNC_STARTS",
    "SCHEDULE_TYPES",
    "SETUP_STATES",
    "STATUS_FIELDS",
    "SYNC_STATES",
    "UPDATE_STATES",
    "ConnectionNotFoundError",
    "InvalidCursorError",
    "ManualClock",
    "SimulatorState",
    "TimeSource",
    "check_historical_sync_start",
    "format_timestamp",
]

TimeSource = Callable[[], float]
"""What the simulator reads its time from: epoch seconds now (:func:`time.time`, a
:class:`ManualClock`, any such callable). The triggers need more of a clock
(:class:`airflow_provider_fivetran_update.clock.Clock`), which a :class:`ManualClock` also is."""

_T = TypeVar("_T")

UPDATE_STATES = ("on_schedule", "delayed")
STATUS_FIELDS = (
    "setup_state",
    "sync_state",
    "update_state",
    "is_historical_sync",
    "schema_status",
    "tasks",
    "warnings",
    "rescheduled_for",
    "succeeded_at",
    "failed_at",
)

HISTORICAL_SYNC_STARTS = ("immediate", "next_scheduled")
"""When ``PATCH {"is_historical_sync": true}`` starts the historical sync.

The two documents disagree. The OpenAPI (the field's description in the update request) says it
starts at once, cancelling and restarting a running sync: ``immediate``, the default, since the
simulator follows the OpenAPI. The reference page says the *next scheduled* sync will be
historical: ``next_scheduled`` sets the flag and lets the next sync (the schedule, with
``schedule_scale``, or ``POST /sync``) be the historical one; resuming a paused connection then
starts nothing by itself either. In both modes a paused or ``manual`` connection starts nothing by
itself, and ``POST /resync`` starts at once.
"""
DEFAULT_GROUP_ID = "sim_group"
DEFAULT_USER_ID = "sim_user"
_SETUP_WARNING_CODE = "setup_tests_failed"
_SYNC_TASK_CODE = "resolve_sync_failure"
_TIMESTAMP_FIELDS = ("rescheduled_for", "succeeded_at", "failed_at")


class ConnectionNotFoundError(KeyError):
    """No connection with this id exists in the simulator."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(connection_id)
        self.connection_id = connection_id

    def __str__(self) -> str:
        return f"Connection with id '{self.connection_id}' doesn't exist"


class InvalidCursorError(ValueError):
    """A pagination cursor that this simulator did not hand out."""


class ManualClock:
    """A clock that only moves when told to; pass it as ``clock=`` for fully deterministic tests.

    It is a :class:`~airflow_provider_fivetran_update.clock.Clock`: give the same one to the
    simulator and to a trigger, and :meth:`advance` moves Fivetran's time and wakes the trigger's
    sleeps together. :attr:`sleeps` records every sleep asked of it, in order.

    :param start: the initial time, as epoch seconds or an aware datetime (default 2026-01-01 UTC).
    """

    def __init__(self, start: float | datetime = 1_767_225_600.0) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._lock = threading.Lock()
        self._sleepers: list[tuple[float, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.sleeps: list[float] = []
        """Every duration passed to :meth:`sleep`, in the order asked."""

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """The same time as a call: this clock never goes back."""
        return self()

    def advance(self, seconds: float) -> float:
        """Move the clock forward, wake the sleeps that are due, and return the new time."""
        if seconds < 0:
            raise ValueError("A clock only moves forward; seconds must be >= 0.")
        with self._lock:
            self._now += seconds
            now = self._now
            due = [entry for entry in self._sleepers if entry[0] <= now]
            self._sleepers = [entry for entry in self._sleepers if entry[0] > now]
        for _, loop, future in due:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, future)
        return now

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has been advanced by ``seconds`` (at once when ``seconds <= 0``)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self.sleeps.append(seconds)
            if seconds <= 0:
                future.set_result(None)
            else:
                self._sleepers.append((self._now + seconds, loop, future))
        try:
            await future
        finally:
            with self._lock:
                self._sleepers = [item for item in self._sleepers if item[2] is not future]

    @property
    def sleeping(self) -> int:
        """How many sleeps are waiting for the clock to move."""
        with self._lock:
            return len(self._sleepers)

    def next_wake(self) -> float | None:
        """When the earliest pending sleep ends (epoch seconds), ``None`` when nothing sleeps."""
        with self._lock:
            return min((entry[0] for entry in self._sleepers), default=None)

    async def drive(self, awaitable: Awaitable[_T], *, settle: float = 0.01) -> _T:
        """Await ``awaitable``, advancing the clock to the next wake whenever it has gone quiet.

        Sleeps then take no real time, while requests still go over real HTTP: a wait of an
        hour runs in milliseconds, in the order it would have run. The clock moves once something
        sleeps on it and no sleep has been asked or has ended for ``settle`` real seconds: a
        trigger that is sleeping, or several that are all waiting on the clock. A request that
        takes longer than ``settle`` may see the clock move meanwhile, as a slow answer would.
        """
        task = asyncio.ensure_future(awaitable)
        try:
            seen: tuple[float | None, int] | None = None
            while not task.done():
                looked = (self.next_wake(), len(self.sleeps))
                if looked[0] is not None and looked == seen:
                    self.advance(max(0.0, looked[0] - self()))
                    looked = (self.next_wake(), len(self.sleeps))
                seen = looked
                await asyncio.wait({task}, timeout=settle)
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def format_timestamp(epoch: float | None) -> str | None:
    """Render epoch seconds as Fivetran does: ISO 8601, UTC, microseconds, ``Z``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_timestamp(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware, got a naive datetime.")
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} must be an ISO 8601 timestamp, got {value!r}.") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise ValueError(f"{name} must be a datetime, an ISO 8601 string or epoch seconds, got {value!r}.")


def check_historical_sync_start(value: Any) -> str:
    """``value`` if it is one of :data:`HISTORICAL_SYNC_STARTS`, else ValueError."""
    return _check_choice("historical_sync_start", value, HISTORICAL_SYNC_STARTS)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
    return str(value)


def _restore_masked(new: Any, old: Any) -> Any:
    """Put stored secrets back where an update sent the mask Fivetran showed it."""
    if new == SECRET_MASK and old is not None:
        return copy.deepcopy(old)
    if isinstance(new, dict) and isinstance(old, dict):
        return {key: _restore_masked(value, old.get(key)) for key, value in new.items()}
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [_restore_masked(item, before) for item, before in zip(new, old, strict=True)]
    return copy.deepcopy(new)


def _merge_section(stored: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Fivetran merges ``config``/``auth``: keys sent replace stored ones, others are kept."""
    merged = copy.deepcopy(stored)
    for key, value in update.items():
        merged[key] = _restore_masked(value, stored.get(key))
    return merged


@dataclass
class _Sync:
    historical: bool
    started_at: float
    ends_at: float
    # The tables of a table-level re-sync ({schema: [table, ...]}), or None for the whole connection.
    scope: dict[str, list[str]] | None = None


@dataclass
class _Deferred:
    """A sync the source made wait (``sync_state`` ``rescheduled``) until ``rescheduled_for``."""

    historical: bool
    scope: dict[str, list[str]] | None


@dataclass
class _Connection:
    id: str
    service: str
    group_id: str
    schema: str
    paused: bool
    sync_frequency: int
    schedule_type: str
    setup_state: str
    sync_state: str
    created_at: float
    config: dict[str, Any]
    auth: dict[str, Any]
    broken: bool
    fail_historical_sync: bool
    extra: dict[str, Any]
    fail_syncs: bool = False
    daily_sync_time: str | None = None
    update_state: str = "on_schedule"
    succeeded_at: float | None = None
    failed_at: float | None = None
    is_historical_sync: bool = False
    schema_status: str | None = None
    rescheduled_for: float | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    setup_tests: list[dict[str, Any]] = field(default_factory=list)
    setup_test_runs: int = 0
    running: _Sync | None = None
    sync_requested: bool = False
    next_auto_sync_at: float | None = None
    # Seconds the next sync start is postponed by (one-shot), and the sync so postponed.
    reschedule_seconds: float | None = None
    deferred: _Deferred | None = None
    # The table scope of a re-sync requested while paused, started on resume.
    pending_scope: dict[str, list[str]] | None = None
    last_resync_scope: dict[str, list[str]] | None = None


# Top-level fields every connection reports, with their defaults, in ConnectorResponseV1 order.
_DEFAULT_EXTRA: dict[str, Any] = {
    "connected_by": DEFAULT_USER_ID,
    "pause_after_trial": False,
    "networking_method": "Directly",
    "data_delay_sensitivity": "NORMAL",
    "data_delay_threshold": 0,
    "service_version": 1,
    "source_sync_details": {},
}

# PATCH fields with behaviour of their own; everything else is stored as a top-level field.
_MODELLED_FIELDS = frozenset(
    {
        "config",
        "auth",
        "paused",
        "sync_frequency",
        "daily_sync_time",
        "schedule_type",
        "is_historical_sync",
        "schema_status",
    }
)


class SimulatorState:
    """Every simulated connection, the simulated clock and the rules that move connections on.

    All public methods are thread-safe: the HTTP server's event loop and the test's own thread
    call them concurrently.

    :param clock: returns epoch seconds; :func:`time.time` by default, or a :class:`ManualClock`.
    :param historical_sync_seconds: simulated seconds a historical sync takes.
    :param sync_seconds: simulated seconds an incremental sync takes.
    :param schedule_scale: simulated seconds per minute of ``sync_frequency`` for automatic syncs
        of ``auto`` connections; ``None`` (default) means Fivetran never starts a sync by itself.
    :param historical_sync_start: when ``is_historical_sync: true`` starts the historical sync; see
        :data:`HISTORICAL_SYNC_STARTS`.
    """

    def __init__(
        self,
        *,
        clock: TimeSource | None = None,
        historical_sync_seconds: float = 2.0,
        sync_seconds: float = 1.0,
        schedule_scale: float | None = None,
        historical_sync_start: str = "immediate",
    ) -> None:
        if historical_sync_seconds < 0 or sync_seconds < 0:
            raise ValueError("Sync durations must be >= 0 seconds.")
        if schedule_scale is not None and schedule_scale <= 0:
            raise ValueError("schedule_scale must be > 0 simulated seconds per minute, or None.")
        self._clock: TimeSource = clock or time.time
        self._offset = 0.0
        self.historical_sync_seconds = historical_sync_seconds
        self.sync_seconds = sync_seconds
        self.schedule_scale = schedule_scale
        self._historical_sync_start = check_historical_sync_start(historical_sync_start)
        self._lock = threading.RLock()
        self._connections: dict[str, _Connection] = {}

    @property
    def historical_sync_start(self) -> str:
        """One of :data:`HISTORICAL_SYNC_STARTS`; setting it checks the value."""
        return self._historical_sync_start

    @historical_sync_start.setter
    def historical_sync_start(self, mode: str) -> None:
        self._historical_sync_start = check_historical_sync_start(mode)

    # -- clock ---------------------------------------------------------------------------------

    def now(self) -> float:
        """The simulated time: the clock plus every :meth:`advance` so far."""
        with self._lock:
            return self._clock() + self._offset

    def advance(self, seconds: float) -> float:
        """Jump the simulated time forward (works with any clock) and return the new time."""
        if seconds < 0:
            raise ValueError("Time only moves forward; seconds must be >= 0.")
        with self._lock:
            self._offset += seconds
            return self.now()

    # -- connections -----------------------------------------------------------------------------

    def add(
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
        """Create a connection and return its API view (see :meth:`FivetranSimulator.add_connection`)."""
        if not connection_id or "/" in connection_id:
            raise ValueError(
                f"A connection id must be a non-empty string without '/', got {connection_id!r}."
            )
        if not isinstance(paused, bool):
            raise ValueError(f"paused must be a bool, got {paused!r}.")
        if not isinstance(sync_frequency, int) or isinstance(sync_frequency, bool) or sync_frequency <= 0:
            raise ValueError(f"sync_frequency must be a positive number of minutes, got {sync_frequency!r}.")
        _check_choice("schedule_type", schedule_type, SCHEDULE_TYPES)
        _check_choice("setup_state", setup_state, SETUP_STATES)
        if sync_state is not None:
            _check_choice("sync_state", sync_state, SYNC_STATES)
        extra = copy.deepcopy(_DEFAULT_EXTRA)
        extra.update(copy.deepcopy(fields))
        with self._lock:
            if connection_id in self._connections:
                raise ValueError(f"Connection {connection_id!r} already exists in the simulator.")
            now = self.now()
            conn = _Connection(
                id=connection_id,
                service=service,
                group_id=group_id,
                schema=schema if schema is not None else f"{service}_{connection_id}",
                paused=paused,
                sync_frequency=sync_frequency,
                schedule_type=schedule_type,
                setup_state=setup_state,
                sync_state=sync_state or ("paused" if paused else "scheduled"),
                created_at=now,
                config=copy.deepcopy(dict(config or {})),
                auth=copy.deepcopy(dict(auth or {})),
                broken=broken,
                fail_historical_sync=fail_historical_sync,
                extra=extra,
                daily_sync_time=daily_sync_time,
            )
            if sync_state == "syncing":
                conn.running = _Sync(historical=False, started_at=now, ends_at=now + self.sync_seconds)
            self._schedule_next(conn, now)
            self._connections[connection_id] = conn
            return self._view(conn)

    def remove(self, connection_id: str) -> None:
        """Delete a connection."""
        with self._lock:
            if self._connections.pop(connection_id, None) is None:
                raise ConnectionNotFoundError(connection_id)

    def clear(self) -> None:
        """Delete every connection."""
        with self._lock:
            self._connections.clear()

    def exists(self, connection_id: str) -> bool:
        """Whether a connection with this id exists."""
        with self._lock:
            return connection_id in self._connections

    def ids(self) -> list[str]:
        """Every connection id, sorted."""
        with self._lock:
            return sorted(self._connections)

    def view(self, connection_id: str) -> dict[str, Any]:
        """The ``data`` object of ``GET /v1/connections/{id}``, secrets masked, time model applied."""
        with self._lock:
            return self._view(self._advanced(connection_id))

    def raw(self, connection_id: str) -> dict[str, Any]:
        """The API view without masking, plus ``auth`` and the simulator's behaviour flags."""
        with self._lock:
            conn = self._advanced(connection_id)
            data = self._view(conn, masked=False)
            data["auth"] = copy.deepcopy(conn.auth)
            data["broken"] = conn.broken
            data["fail_historical_sync"] = conn.fail_historical_sync
            data["fail_syncs"] = conn.fail_syncs
            data["setup_test_runs"] = conn.setup_test_runs
            data["last_resync_scope"] = copy.deepcopy(conn.last_resync_scope)
            return data

    def page(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        group_id: str | None = None,
        schema: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``GET /v1/connections``: the items and the cursor of the next page, if any."""
        after = _decode_cursor(cursor) if cursor else None
        with self._lock:
            now = self.now()
            selected = [
                conn
                for conn_id, conn in sorted(self._connections.items())
                if (after is None or conn_id > after)
                and (group_id is None or conn.group_id == group_id)
                and (schema is None or conn.schema == schema)
            ]
            chosen = selected[:limit]
            for conn in chosen:
                self._advance(conn, now)
            items = [self._view(conn) for conn in chosen]
        next_cursor = _encode_cursor(chosen[-1].id) if len(selected) > limit else None
        return items, next_cursor

    # -- what the API changes --------------------------------------------------------------------

    def update(self, connection_id: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Apply a validated PATCH payload; return the new view and whether setup tests ran."""
        with self._lock:
            conn = self._advanced(connection_id)
            now = self.now()
            for name, value in payload.items():
                if name in SETUP_TEST_ONLY_FIELDS:
                    continue
                if name == "config":
                    conn.config = _merge_section(conn.config, value)
                elif name == "auth":
                    conn.auth = _merge_section(conn.auth, value)
                elif name == "sync_frequency":
                    conn.sync_frequency = int(value)
                elif name == "daily_sync_time":
                    conn.daily_sync_time = str(value)
                elif name == "schema_status":
                    conn.schema_status = str(value).lower()
                elif name not in _MODELLED_FIELDS:
                    conn.extra[name] = copy.deepcopy(value)

            tests_ran = payload.get("run_setup_tests") is not False
            if tests_ran:
                self._run_setup_tests(conn)

            if "schedule_type" in payload:
                conn.schedule_type = str(payload["schedule_type"])
                self._schedule_next(conn, now)
            if payload.get("paused") is True and not conn.paused:
                self._pause(conn)
            elif payload.get("paused") is False and conn.paused:
                self._unpause(conn, now)
            if payload.get("is_historical_sync") is True:
                self._request_historical_sync(conn, now)
            elif payload.get("is_historical_sync") is False and not (
                conn.running and conn.running.historical
            ):
                conn.is_historical_sync = False
            if "sync_frequency" in payload and conn.running is None:
                self._schedule_next(conn, now)
            return self._view(conn), tests_ran

    def trigger_sync(self, connection_id: str, *, force: bool = False) -> str:
        """``POST /v1/connections/{id}/sync``; returns what happened, in a sentence."""
        with self._lock:
            conn = self._advanced(connection_id)
            now = self.now()
            if conn.paused:
                conn.sync_requested = True
                return "The connection is paused; the sync starts when it is resumed."
            if conn.running is not None and not force:
                return "A sync is already running; nothing was changed (use force to restart it)."
            restarted = conn.running is not None
            deferred = conn.deferred
            if deferred is not None:
                # For a manual connection this call is the only way a rescheduled sync runs, and
                # Fivetran accepts it for an automatic one too: the sync starts now.
                conn.deferred = None
                conn.rescheduled_for = None
                self._start_sync(conn, now, historical=deferred.historical, scope=deferred.scope)
                return "The rescheduled sync has started."
            self._begin_sync(conn, now, historical=conn.is_historical_sync)
            return "The running sync was restarted." if restarted else "A sync has started."

    def resync(self, connection_id: str, scope: Mapping[str, list[str]] | None = None) -> str:
        """``POST /v1/connections/{id}/resync``: a historical sync of everything or of ``scope``.

        The re-sync starts at once, on a manual schedule too (it is an explicit request, like
        ``POST /sync``). A running sync is completed first, as Fivetran says it tries to; Fivetran
        answers 409 when it cannot, which tests reproduce with a fault. On a paused connection the
        re-sync waits for the resume.
        """
        tables = {name: list(items) for name, items in scope.items()} if scope is not None else None
        with self._lock:
            conn = self._advanced(connection_id)
            now = self.now()
            conn.last_resync_scope = copy.deepcopy(tables)
            if conn.paused:
                conn.sync_requested = True
                if tables is None:
                    conn.is_historical_sync = True
                else:
                    conn.pending_scope = tables
                return "The connection is paused; the re-sync starts when it is resumed."
            if conn.running is not None:
                conn.running.ends_at = now
                self._finish_sync(conn)
            self._begin_sync(conn, now, historical=tables is None, scope=tables)
            return "The re-sync has started."

    def run_setup_tests(self, connection_id: str) -> dict[str, Any]:
        """``POST /v1/connections/{id}/test``: run the setup tests and return the new view."""
        with self._lock:
            conn = self._advanced(connection_id)
            self._run_setup_tests(conn)
            return self._view(conn)

    def reschedule_next_sync(self, connection_id: str, seconds: float) -> None:
        """Make the next sync that would start wait ``seconds`` in ``sync_state`` ``rescheduled``."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"seconds must be a number > 0, got {seconds!r}.")
        with self._lock:
            self._advanced(connection_id).reschedule_seconds = float(seconds)

    def group_exists(self, group_id: str) -> bool:
        """Whether a group is known: the default group, or the group of any connection."""
        with self._lock:
            return group_id == DEFAULT_GROUP_ID or any(
                conn.group_id == group_id for conn in self._connections.values()
            )

    def set_status(self, connection_id: str, **status: Any) -> dict[str, Any]:
        """Overwrite reported status fields (see :data:`STATUS_FIELDS`); they hold until the next event."""
        unknown = sorted(set(status) - set(STATUS_FIELDS))
        if unknown:
            raise ValueError(f"Unknown status field(s) {unknown}; known: {', '.join(STATUS_FIELDS)}.")
        checked: dict[str, Any] = {}
        for name, value in status.items():
            if name == "setup_state":
                checked[name] = _check_choice(name, value, SETUP_STATES)
            elif name == "sync_state":
                checked[name] = _check_choice(name, value, SYNC_STATES)
            elif name == "update_state":
                checked[name] = _check_choice(name, value, UPDATE_STATES)
            elif name == "is_historical_sync":
                if not isinstance(value, bool):
                    raise ValueError(f"is_historical_sync must be a bool, got {value!r}.")
                checked[name] = value
            elif name in ("tasks", "warnings"):
                if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                    raise ValueError(f"{name} must be a list of {{code, message}} objects.")
                checked[name] = copy.deepcopy(value)
            elif name in _TIMESTAMP_FIELDS:
                checked[name] = _parse_timestamp(name, value)
            else:
                checked[name] = value
        with self._lock:
            conn = self._advanced(connection_id)
            for name, value in checked.items():
                setattr(conn, name, value)
            return self._view(conn)

    def set_behaviour(
        self,
        connection_id: str,
        *,
        broken: bool | None = None,
        fail_historical_sync: bool | None = None,
        fail_syncs: bool | None = None,
    ) -> None:
        """Change how a connection behaves from now on (its next setup tests or syncs)."""
        with self._lock:
            conn = self._advanced(connection_id)
            if broken is not None:
                conn.broken = broken
            if fail_historical_sync is not None:
                conn.fail_historical_sync = fail_historical_sync
            if fail_syncs is not None:
                conn.fail_syncs = fail_syncs

    # -- internals (call with the lock held) -----------------------------------------------------

    def _advanced(self, connection_id: str) -> _Connection:
        conn = self._connections.get(connection_id)
        if conn is None:
            raise ConnectionNotFoundError(connection_id)
        self._advance(conn, self.now())
        return conn

    def _period(self, conn: _Connection) -> float | None:
        if self.schedule_scale is None or conn.schedule_type != "auto":
            return None
        return conn.sync_frequency * self.schedule_scale

    def _schedule_next(self, conn: _Connection, after: float) -> None:
        period = self._period(conn)
        conn.next_auto_sync_at = None if period is None or conn.paused else after + period

    def _advance(self, conn: _Connection, now: float) -> None:
        while True:
            if conn.running is not None and conn.running.ends_at <= now:
                self._finish_sync(conn)
                continue
            period = self._period(conn)
            due = conn.next_auto_sync_at
            if (
                conn.running is None
                and not conn.paused
                and period is not None
                and due is not None
                and due <= now
            ):
                # After a long jump of the clock, run only the latest missed sync, not all of them.
                start = due + math.floor((now - due) / period) * period
                self._begin_sync(conn, start, historical=conn.is_historical_sync)
                continue
            deferred = conn.deferred
            resume_at = conn.rescheduled_for
            if (
                deferred is not None
                and conn.running is None
                and not conn.paused
                and conn.schedule_type == "auto"
                and resume_at is not None
                and resume_at <= now
            ):
                conn.deferred = None
                conn.rescheduled_for = None
                self._start_sync(conn, resume_at, historical=deferred.historical, scope=deferred.scope)
                continue
            return

    def _begin_sync(
        self, conn: _Connection, at: float, *, historical: bool, scope: dict[str, list[str]] | None = None
    ) -> None:
        """Start a sync, unless the source has it wait (see :meth:`reschedule_next_sync`)."""
        if conn.reschedule_seconds is None:
            self._start_sync(conn, at, historical=historical, scope=scope)
            return
        conn.deferred = _Deferred(historical=historical, scope=scope)
        conn.rescheduled_for = at + conn.reschedule_seconds
        conn.reschedule_seconds = None
        self._take_request(conn, historical=historical, sync_state="rescheduled")

    def _start_sync(
        self, conn: _Connection, at: float, *, historical: bool, scope: dict[str, list[str]] | None = None
    ) -> None:
        # A table re-sync extracts its tables from scratch, so it takes as long as a historical sync.
        slow = historical or scope is not None
        duration = self.historical_sync_seconds if slow else self.sync_seconds
        conn.running = _Sync(historical=historical, started_at=at, ends_at=at + duration, scope=scope)
        conn.deferred = None
        conn.rescheduled_for = None
        self._take_request(conn, historical=historical, sync_state="syncing")

    def _take_request(self, conn: _Connection, *, historical: bool, sync_state: str) -> None:
        """The requested (or scheduled) sync is now running or rescheduled: nothing is pending."""
        conn.sync_requested = False
        conn.next_auto_sync_at = None
        if historical:
            conn.is_historical_sync = True
        conn.sync_state = "paused" if conn.paused else sync_state

    def _finish_sync(self, conn: _Connection) -> None:
        run = conn.running
        assert run is not None
        conn.running = None
        failed_because: str | None = None
        if conn.setup_state == "broken":
            failed_because = "its setup is broken; fix the setup settings and run the setup tests"
        elif run.historical and conn.fail_historical_sync:
            failed_because = "the source rejected the historical extract (simulated failure)"
        elif conn.fail_syncs:
            failed_because = "the source could not be read (simulated failure)"
        if failed_because is None:
            conn.succeeded_at = run.ends_at
            conn.tasks = [task for task in conn.tasks if task.get("code") != _SYNC_TASK_CODE]
        else:
            conn.failed_at = run.ends_at
            kind = "Historical sync" if run.historical else "Table re-sync" if run.scope else "Sync"
            conn.tasks = [task for task in conn.tasks if task.get("code") != _SYNC_TASK_CODE]
            conn.tasks.append(
                {
                    "code": _SYNC_TASK_CODE,
                    "message": f"{kind} failed",
                    "details": f"{kind} of connection '{conn.id}' failed because {failed_because}.",
                }
            )
        if run.historical:
            conn.is_historical_sync = False
        conn.sync_state = "paused" if conn.paused else "scheduled"
        self._schedule_next(conn, run.ends_at)

    def _pause(self, conn: _Connection) -> None:
        conn.paused = True
        conn.sync_state = "paused"
        conn.next_auto_sync_at = None

    def _unpause(self, conn: _Connection, now: float) -> None:
        conn.paused = False
        if conn.running is not None:
            conn.sync_state = "syncing"
        elif conn.deferred is not None:
            conn.sync_state = "rescheduled"
            self._advance(conn, now)
        elif conn.sync_requested or (
            conn.is_historical_sync
            and conn.schedule_type == "auto"
            and self.historical_sync_start == "immediate"
        ):
            scope, conn.pending_scope = conn.pending_scope, None
            self._begin_sync(conn, now, historical=conn.is_historical_sync, scope=scope)
        else:
            conn.sync_state = "scheduled"
            self._schedule_next(conn, now)

    def _request_historical_sync(self, conn: _Connection, now: float) -> None:
        conn.is_historical_sync = True
        if conn.paused or conn.schedule_type == "manual" or self.historical_sync_start != "immediate":
            return
        # Fivetran cancels a running sync and restarts it as a historical one.
        self._begin_sync(conn, now, historical=True)

    def _run_setup_tests(self, conn: _Connection) -> None:
        conn.setup_test_runs += 1
        conn.warnings = [item for item in conn.warnings if item.get("code") != _SETUP_WARNING_CODE]
        passed = {"status": "PASSED", "message": ""}
        if conn.broken:
            conn.setup_state = "broken"
            message = "Authentication failed: the source rejected the credentials (simulated)."
            conn.setup_tests = [
                {"title": "Connecting to host", **passed},
                {"title": "Validating credentials", "status": "FAILED", "message": message},
                {"title": "Checking permissions", "status": "SKIPPED", "message": ""},
            ]
            conn.warnings.append(
                {
                    "code": _SETUP_WARNING_CODE,
                    "message": "Setup tests failed",
                    "details": f"Setup tests of connection '{conn.id}' failed: {message}",
                }
            )
        else:
            conn.setup_state = "connected"
            conn.setup_tests = [
                {"title": "Connecting to host", **passed},
                {"title": "Validating credentials", **passed},
                {"title": "Checking permissions", **passed},
            ]

    def _view(self, conn: _Connection, *, masked: bool = True) -> dict[str, Any]:
        status: dict[str, Any] = {
            "setup_state": conn.setup_state,
            "sync_state": conn.sync_state,
            "update_state": conn.update_state,
            "is_historical_sync": conn.is_historical_sync,
            "tasks": copy.deepcopy(conn.tasks),
            "warnings": copy.deepcopy(conn.warnings),
        }
        if conn.schema_status is not None:
            status["schema_status"] = conn.schema_status
        if conn.sync_state == "rescheduled" and conn.rescheduled_for is not None:
            status["rescheduled_for"] = format_timestamp(conn.rescheduled_for)
        data: dict[str, Any] = {
            "id": conn.id,
            "service": conn.service,
            "schema": conn.schema,
            "group_id": conn.group_id,
            "connected_by": conn.extra.get("connected_by"),
            "created_at": format_timestamp(conn.created_at),
            "succeeded_at": format_timestamp(conn.succeeded_at),
            "failed_at": format_timestamp(conn.failed_at),
            "paused": conn.paused,
            "pause_after_trial": conn.extra.get("pause_after_trial", False),
            "sync_frequency": conn.sync_frequency,
        }
        if conn.sync_frequency == 1440 and conn.daily_sync_time is not None:
            data["daily_sync_time"] = conn.daily_sync_time
        data["schedule_type"] = conn.schedule_type
        data["status"] = status
        data["setup_tests"] = copy.deepcopy(conn.setup_tests)
        data["config"] = copy.deepcopy(conn.config)
        for name, value in conn.extra.items():
            if name not in data:
                data[name] = copy.deepcopy(value)
        return redact(data) if masked else data


def _encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursorError(f"Invalid cursor {cursor!r}.") from None
    if not text.startswith("after:"):
        raise InvalidCursorError(f"Invalid cursor {cursor!r}.")
    return text.removeprefix("after:")
