"""The time the triggerer's waits run on: real time in production, a test's clock in tests.

A :class:`Clock` answers three questions: the epoch seconds now (deadlines such as a trigger's
``end_time`` are epoch seconds, so they survive a triggerer restart), monotonic seconds (ages and
intervals, which must not jump with the system clock) and "wake me in this many seconds".
:data:`SYSTEM_CLOCK` is :func:`time.time`, :func:`time.monotonic` and :func:`asyncio.sleep`;
:class:`~airflow_provider_fivetran_update.testing.ManualClock` is one that only moves when a test
says so, which the simulator can share so that one ``advance(30)`` moves both sides.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What a wait needs of time. Calling it gives the epoch seconds now."""

    def __call__(self) -> float:
        """Epoch seconds now."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (its origin means nothing)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock, without blocking the event loop."""
        ...


class SystemClock:
    """Real time. Looked up at each call, so a test that patches :mod:`time` still sees its patch."""

    def __call__(self) -> float:
        """:func:`time.time`."""
        return time.time()

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """:func:`asyncio.sleep`."""
        import asyncio  # here: a DAG file that imports the package does not need the event loop

        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"


SYSTEM_CLOCK: Clock = SystemClock()
"""The clock of every trigger Airflow builds (a clock is never serialized with a trigger)."""
