"""Quota-aware pacing: slow down before the Fivetran account's request quota runs out.

Fivetran limits the requests of an account over a rolling window (one hour, 500 or 20,000 requests
depending on the plan) and says where each account stands in every answer: ``X-Rate-Limit`` (the
limit) and ``X-Rate-Limit-Remaining`` (what is left in the current window). Past the limit it
answers 429 with a ``Retry-After`` that can be an hour long.

A :class:`QuotaPacer` reads those two headers and keeps the times of the requests its process sent.
While the last answer leaves room, requests go at once. When the room is used up, each request
waits until one of this process's earlier requests has left the rolling window, so the process
sends at the rate the window frees slots and no faster: no 429 from the process's own bursts, and
no time lost either. Other clients of the same account show up in ``X-Rate-Limit-Remaining`` and
are left the share they used at the last answer.

What pacing can and cannot coordinate: it is per process. Requests from one process share one
pacer per account (every hook, task or trigger in it: a triggerer's triggers, a task's polls, the
tasks of ``dag.test()``). Tasks in separate processes (Celery and Kubernetes workers start one per
task) each learn the account's state only from their own answers: a process's first request is sent
without knowing it, and two processes that both see room left may both use it. The fallback is the
hook's retry policy (429 with ``Retry-After``). To bound a mapped task over many connections across
workers, give it an Airflow pool.

Settings (read once per process and account, ``[fivetran]`` section of the Airflow configuration):

* ``rate_limit_pacing`` (default ``True``): ``False`` turns pacing off.
* ``rate_limit_window`` (default ``3600``): the length in seconds of the rolling window the
  ``X-Rate-Limit`` headers count; Fivetran documents one hour.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from airflow_provider_fivetran_update.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "DEFAULT_WINDOW_SECONDS",
    "LIMIT_HEADER",
    "REMAINING_HEADER",
    "QuotaPacer",
    "pacer_for",
]

log = logging.getLogger(__name__)

LIMIT_HEADER = "X-Rate-Limit"
REMAINING_HEADER = "X-Rate-Limit-Remaining"
DEFAULT_WINDOW_SECONDS = 3600.0
CONFIG_SECTION = "fivetran"
# A request is timed from its answer (the server counted it no later than that), so a request that
# replaces it cannot arrive before it left the server's window; the guard covers clock granularity.
_GUARD_SECONDS = 0.05
# Pacing never holds a request longer than this; past it the request goes and the retry policy
# handles the 429 (it waits Retry-After, capped, and tells the user).
MAX_WAIT_SECONDS = 60.0


class _Account(Protocol):
    @property
    def base_url(self) -> str: ...

    @property
    def api_key(self) -> str: ...


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((item for key, item in headers.items() if key.lower() == lowered), None)
    return value


def _count(text: str | None) -> int | None:
    try:
        number = int(text.strip()) if text is not None else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def _within(seconds: float, deadline: float | None, now: float | None = None) -> float:
    """``seconds``, cut so that the wait ends by ``deadline`` (epoch seconds) when one is given."""
    if deadline is None:
        return seconds
    return min(seconds, max(0.0, deadline - (time.time() if now is None else now)))


class QuotaPacer:
    """Paces one process's requests to one Fivetran account (thread- and coroutine-safe).

    :param window: seconds of the rolling window the quota headers count.
    :param clock: monotonic seconds; :func:`time.monotonic` unless a test passes its own.
    :param max_wait: the longest a request is held back, in seconds.
    """

    def __init__(
        self,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        if window <= 0:
            raise ValueError(f"the rate-limit window must be > 0 seconds, got {window!r}")
        self.window = float(window)
        self.max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._remaining: int | None = None
        self._observed_at = 0.0
        self._booked_since = 0  # requests booked after the last answer read, which it did not count
        self._sent: list[float] = []  # when this process's requests left (or will leave), sorted

    def observe(self, headers: Mapping[str, str], booked: float | None = None) -> None:
        """Take in an answer: its quota headers (any status), and when it came.

        :param headers: the answer's headers; without the quota headers only the time is kept.
        :param booked: what :meth:`wait` returned for this request. The request is then timed from
            now, the latest moment the server can have counted it.
        """
        limit = _count(_header(headers, LIMIT_HEADER))
        remaining = _count(_header(headers, REMAINING_HEADER))
        with self._lock:
            if booked is not None:
                index = bisect.bisect_left(self._sent, booked)
                if index < len(self._sent) and self._sent[index] == booked:
                    del self._sent[index]
                    bisect.insort(self._sent, max(booked, self._clock()))
            if remaining is None:
                return
            self._limit = limit if limit is not None else self._limit
            self._remaining = remaining
            self._observed_at = self._clock()
            self._booked_since = 0

    def reserve(self) -> tuple[float, float]:
        """Book the next request's turn: ``(seconds to wait, booked time for observe())``."""
        with self._lock:
            now = self._clock()
            at = self._turn(now)
            bisect.insort(self._sent, at)
            self._booked_since += 1
        if at - now >= 1:
            log.debug(
                "Fivetran quota: %s of %s requests left; waiting %.1f s",
                self._remaining,
                self._limit,
                at - now,
            )
        return at - now, at

    def wait(self, deadline: float | None = None) -> float:
        """Block until the next request may go (no wait while the quota has room); the booked time.

        :param deadline: epoch seconds the caller's wait ends at; pacing never holds a request past
            it (the request then goes, and a 429 is the retry policy's to judge against the deadline).
        """
        seconds, booked = self.reserve()
        seconds = _within(seconds, deadline)
        if seconds > 0:
            time.sleep(seconds)
        return booked

    async def await_turn(self, deadline: float | None = None, *, clock: Clock = SYSTEM_CLOCK) -> float:
        """Await until the next request may go, without blocking the event loop; the booked time.

        :param deadline: as for :meth:`wait`.
        :param clock: what ``deadline`` is measured against and what the wait sleeps on.
        """
        seconds, booked = self.reserve()
        seconds = _within(seconds, deadline, clock())
        if seconds > 0:
            await clock.sleep(seconds)
        return booked

    def _turn(self, now: float) -> float:
        sent, window = self._sent, self.window
        if self._remaining is None:
            del sent[: bisect.bisect_right(sent, now - window)]
            return now
        # The last answer counted the requests of (observed_at - window, observed_at]; older ones
        # matter no more.
        counted_from = self._observed_at - window
        del sent[: bisect.bisect_right(sent, counted_from)]
        expired_by = now - window - _GUARD_SECONDS
        expired = bisect.bisect_right(sent, expired_by) if expired_by > counted_from else 0
        room = self._remaining - self._booked_since + expired
        if room > 0:
            return now
        # No room: wait until enough of this process's requests leave the window.
        live = sent[expired:]
        needed = 1 - room
        if needed > len(live):
            # Other clients hold the quota; their requests' times are unknown. Try at the rate the
            # limit allows on average; the next answer tells more.
            guess = window / self._limit if self._limit else window
            return now + min(guess, self.max_wait)
        freed_at = live[needed - 1] + window + _GUARD_SECONDS
        if freed_at - now > self.max_wait:
            log.warning(
                "Fivetran quota: no requests left in the %g s window; sending after %g s instead of the "
                "%.0f s the window needs (a 429 answer is then retried after its Retry-After).",
                window,
                self.max_wait,
                freed_at - now,
            )
            return now + self.max_wait
        return max(now, freed_at)


class _NoPacing(QuotaPacer):
    """Pacing turned off: requests go at once, answers are not read."""

    def observe(self, headers: Mapping[str, str], booked: float | None = None) -> None:
        """Ignore the answer."""

    def reserve(self) -> tuple[float, float]:
        """Never wait."""
        return 0.0, 0.0


_pacers: dict[tuple[str, str], QuotaPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(account: _Account) -> QuotaPacer:
    """The process's pacer for a Fivetran account (its base URL and API key).

    The ``[fivetran]`` settings are read when the process first talks to the account.
    """
    key = (account.base_url, hashlib.sha256(account.api_key.encode()).hexdigest())
    pacer = _pacers.get(key)
    if pacer is None:
        with _pacers_lock:
            pacer = _pacers.get(key)
            if pacer is None:
                pacer = _pacers[key] = _configured_pacer()
    return pacer


def _configured_pacer() -> QuotaPacer:
    from airflow_provider_fivetran_update._compat import conf

    if not conf.getboolean(CONFIG_SECTION, "rate_limit_pacing", fallback=True):
        return _NoPacing()
    return QuotaPacer(conf.getfloat(CONFIG_SECTION, "rate_limit_window", fallback=DEFAULT_WINDOW_SECONDS))
