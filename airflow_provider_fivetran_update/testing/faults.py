"""Injected faults, the rate limiter and the request log of the simulator.

These are plain thread-safe Python objects; the HTTP layer (:mod:`.app`) consults them for every
``/v1`` request and the test thread configures them through :class:`.FivetranSimulator`.
"""

from __future__ import annotations

import fnmatch
import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_ERROR_CODES",
    "Fault",
    "FaultQueue",
    "RateDecision",
    "RateLimiter",
    "RecordedRequest",
    "RequestLog",
]

DEFAULT_ERROR_CODES: Mapping[int, str] = {
    400: "InvalidInput",
    401: "AuthFailed",
    403: "NotAllowed",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
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
    """A sliding-window limit: at most ``requests`` answered requests in any ``per_seconds``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._window = 60.0
        self._times: deque[float] = deque()

    @property
    def enabled(self) -> bool:
        """Whether a limit is set."""
        return self._limit is not None

    def configure(self, requests: int | None, per_seconds: float = 60.0) -> None:
        """Set the limit, or lift it with ``None``; the window starts empty either way."""
        if requests is not None and (not isinstance(requests, int) or requests < 1):
            raise ValueError(f"requests must be a positive integer or None, got {requests!r}.")
        if per_seconds <= 0:
            raise ValueError(f"per_seconds must be > 0, got {per_seconds!r}.")
        with self._lock:
            self._limit = requests
            self._window = float(per_seconds)
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
                "X-Rate-Limit-Limit": str(self._limit),
                "X-Rate-Limit-Remaining": str(max(self._limit - used, 0)),
                "X-Rate-Limit-Reset": str(max(reset, 0)),
            }
            retry_after = 0
            if not allowed:
                retry_after = max(reset, 1)
                headers["Retry-After"] = str(retry_after)
            return RateDecision(allowed=allowed, headers=headers, retry_after=retry_after)


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
