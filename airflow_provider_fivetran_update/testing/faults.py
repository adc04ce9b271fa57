"""Injected faults, the rate limiter and the request log of the simulator.

These are plain thread-safe Python objects; the HTTP layer (:mod:`.app`) consults them for every
``/v1`` request and the test thread configures them through :class:`.FivetranSimulator`.
"""

from __future__ import annotations

import fnmatch
import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_ERROR_CODES",
    "SETUP_TEST_LIMITS",
    "Fault",
    "FaultQueue",
    "RateDecision",
    "RateLimiter",
    "RecordedRequest",
    "RequestLog",
    "SetupTestLimiter",
    "SetupTestLimits",
]

DEFAULT_ERROR_CODES: Mapping[int, str] = {
    400: "InvalidInput",
    401: "AuthFailed",
    403: "NotAllowed",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass(frozen=True)
class Fault:
    """What the simulator does instead of (or before) its normal answer to one request.

    :param status: answer with this HTTP status and a Fivetran error body.
    :param headers: extra headers for that answer (``Retry-After`` defaults to ``1`` on 429).
    :param body: the answer's body instead of the default: a dict or list is sent as JSON, a
        string or bytes as they are.
    :param delay: seconds to wait first; alone, the normal answer follows (a slow API).
    :param drop: close the connection without answering.
    :param malformed: answer 200 (or ``status``) with a body that is not valid JSON.
    :param after_apply: carry the request out first (a PATCH changes the connection), then do the
        rest of the fault to its answer: ``drop`` loses it, ``malformed``/``status``/``body``
        replace it, a lone ``delay`` holds it back. What a client sees when the change reached
        Fivetran but the answer did not reach it.
    :param path: only requests whose path matches this exact path or ``fnmatch`` pattern.
    :param method: only requests with this HTTP method.
    """

    status: int | None = None
    headers: Mapping[str, str] | None = None
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    malformed: bool = False
    path: str | None = None
    method: str | None = None
    after_apply: bool = False

    def __post_init__(self) -> None:
        # Normalised here so that the Python API and the admin route arm the same fault.
        object.__setattr__(self, "headers", dict(self.headers) if self.headers else None)
        if self.method is not None:
            object.__setattr__(self, "method", self.method.upper())
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}.")
        if self.delay < 0:
            raise ValueError("delay must be >= 0 seconds.")
        if self.drop and (self.status is not None or self.malformed or self.body is not None):
            raise ValueError(
                "drop=True sends no answer, so it cannot be combined with status, body or malformed."
            )
        if self.status is None and not (self.drop or self.malformed or self.delay or self.body is not None):
            raise ValueError("A fault needs at least one of status, delay, drop, malformed or body.")
        if self.after_apply and self.method is not None and self.method.upper() == "GET":
            raise ValueError("after_apply is for requests that change something, not GET.")

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or path == self.path or fnmatch.fnmatchcase(path, self.path)

    @property
    def answers_normally(self) -> bool:
        """True for a pure delay: the normal answer follows the wait."""
        return self.status is None and not self.drop and not self.malformed and self.body is None

    def describe(self) -> str:
        """A short label for the request log."""
        parts = ["after apply"] if self.after_apply else []
        if self.delay:
            parts.append(f"delay {self.delay:g}s")
        if self.drop:
            parts.append("drop")
        if self.malformed:
            parts.append("malformed")
        if self.status is not None:
            parts.append(f"status {self.status}")
        elif self.body is not None and not self.malformed:
            parts.append("body")
        return ", ".join(parts)


@dataclass
class _Armed:
    fault: Fault
    remaining: int


class FaultQueue:
    """Faults waiting for their requests, first armed first served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def add(self, fault: Fault, count: int = 1) -> None:
        """Apply ``fault`` to the next ``count`` matching requests."""
        if count < 1:
            raise ValueError(f"The number of requests to fail must be >= 1, got {count!r}.")
        with self._lock:
            self._armed.append(_Armed(fault, count))

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if one is armed for it (and count it as used)."""
        with self._lock:
            for index, armed in enumerate(self._armed):
                if armed.fault.matches(method, path):
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        del self._armed[index]
                    return armed.fault
        return None

    def pending(self) -> int:
        """How many requests are still going to be faulted."""
        with self._lock:
            return sum(armed.remaining for armed in self._armed)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()


@dataclass(frozen=True)
class RateDecision:
    """Whether a request is within the quota, and the headers that say so."""

    allowed: bool
    headers: Mapping[str, str]
    retry_after: int = 0


class RateLimiter:
    """A rolling-window limit: at most ``requests`` answered requests in any ``per_seconds``.

    Answers carry the headers Fivetran documents, ``X-Rate-Limit`` (the limit) and
    ``X-Rate-Limit-Remaining``; a 429 also carries ``Retry-After``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._window = 60.0
        self._retry_after: int | None = None
        self._times: deque[float] = deque()

    @property
    def enabled(self) -> bool:
        """Whether a limit is set."""
        return self._limit is not None

    def configure(
        self, requests: int | None, per_seconds: float = 60.0, retry_after: int | None = None
    ) -> None:
        """Set the limit, or lift it with ``None``; the window starts empty either way.

        :param retry_after: the ``Retry-After`` of a 429, in seconds; by default the time until
            the window has room again. Fivetran documents answers with ``Retry-After: 3600``.
        """
        if requests is not None and (not isinstance(requests, int) or requests < 1):
            raise ValueError(f"requests must be a positive integer or None, got {requests!r}.")
        if per_seconds <= 0:
            raise ValueError(f"per_seconds must be > 0, got {per_seconds!r}.")
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 1
        ):
            raise ValueError(
                f"retry_after must be a positive integer number of seconds, got {retry_after!r}."
            )
        with self._lock:
            self._limit = requests
            self._window = float(per_seconds)
            self._retry_after = retry_after
            self._times.clear()

    def check(self, now: float, *, consume: bool = True) -> RateDecision | None:
        """Count a request at ``now`` (unless ``consume`` is false); ``None`` when no limit is set."""
        with self._lock:
            if self._limit is None:
                return None
            while self._times and self._times[0] <= now - self._window:
                self._times.popleft()
            allowed = len(self._times) < self._limit
            if allowed and consume:
                self._times.append(now)
            used = len(self._times)
            reset = math.ceil(self._times[0] + self._window - now) if self._times else 0
            headers = {
                "X-Rate-Limit": str(self._limit),
                "X-Rate-Limit-Remaining": str(max(self._limit - used, 0)),
            }
            retry_after = 0
            if not allowed:
                retry_after = self._retry_after or max(reset, 1)
                headers["Retry-After"] = str(retry_after)
            return RateDecision(allowed=allowed, headers=headers, retry_after=retry_after)


SETUP_TEST_LIMITS: Mapping[str, tuple[tuple[int, float], ...]] = {
    # Fivetran documents these setup-test limits per account: 250 a minute and 2,500 an hour on
    # paid plans, 50 an hour on trials.
    "paid": ((250, 60.0), (2500, 3600.0)),
    "trial": ((50, 3600.0),),
}

SetupTestLimits = str | Sequence[Sequence[float]] | None
"""A preset name from :data:`SETUP_TEST_LIMITS`, ``(runs, per_seconds)`` pairs, or ``None``."""


class SetupTestLimiter:
    """Sliding windows on setup-test runs: each ``(runs, per_seconds)`` pair must hold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: tuple[tuple[int, float], ...] = ()
        self._times: deque[float] = deque()

    @property
    def windows(self) -> tuple[tuple[int, float], ...]:
        """The configured ``(runs, per_seconds)`` limits; empty when setup tests are not limited."""
        return self._windows

    def configure(self, limits: SetupTestLimits) -> None:
        """``"paid"``, ``"trial"``, ``(runs, per_seconds)`` pairs, or ``None`` for no limit."""
        if limits is None:
            windows: tuple[tuple[int, float], ...] = ()
        elif isinstance(limits, str):
            if limits not in SETUP_TEST_LIMITS:
                raise ValueError(
                    f"Unknown setup-test limit preset {limits!r}; use one of {', '.join(SETUP_TEST_LIMITS)},"
                    " a list of (runs, per_seconds) pairs, or None."
                )
            windows = SETUP_TEST_LIMITS[limits]
        else:
            checked = []
            for pair in limits:
                runs, seconds = pair if len(pair) == 2 else (0, 0)
                if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1 or not seconds > 0:
                    raise ValueError(f"A setup-test limit is (runs >= 1, per_seconds > 0), got {pair!r}.")
                checked.append((runs, float(seconds)))
            windows = tuple(checked)
        with self._lock:
            self._windows = windows
            self._times.clear()

    def acquire(self, now: float) -> int | None:
        """Count a setup-test run at ``now``; if a limit is reached, count nothing and return the
        seconds until a run is allowed again."""
        with self._lock:
            if not self._windows:
                return None
            longest = max(seconds for _, seconds in self._windows)
            while self._times and self._times[0] <= now - longest:
                self._times.popleft()
            wait = 0.0
            for runs, seconds in self._windows:
                recent = [moment for moment in self._times if moment > now - seconds]
                if len(recent) >= runs:
                    wait = max(wait, recent[-runs] + seconds - now)
            if wait > 0:
                return max(math.ceil(wait), 1)
            self._times.append(now)
            return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator received on ``/v1``, and how it answered.

    :param method: the HTTP method.
    :param path: the URL path, without the query string.
    :param query: the query parameters (the last value wins for repeated names).
    :param headers: the request headers, names in lower case; ``authorization`` is ``"<redacted>"``.
    :param json: the parsed JSON body, or ``None`` when there was none or it was not JSON.
    :param status: the HTTP status answered, or ``None`` when no answer was sent.
    :param time: simulated time (epoch seconds) the request arrived.
    :param request_id: the ``X-Request-Id`` the answer carried.
    :param fault: the injected fault, described, or ``None`` for a normal answer.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any
    status: int | None
    time: float
    request_id: str = ""
    fault: str | None = None


@dataclass
class RequestLog:
    """Every recorded request, in arrival order; thread-safe."""

    _items: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, request: RecordedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._items.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        """A copy of the log."""
        with self._lock:
            return list(self._items)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many recorded requests match the method and the exact path or ``fnmatch`` pattern."""
        with self._lock:
            return sum(
                1
                for item in self._items
                if (method is None or item.method == method.upper())
                and (path is None or item.path == path or fnmatch.fnmatchcase(item.path, path))
            )

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._items.clear()
