"""Triggers on a :class:`ManualClock`: tests say how far time moves, not how long to wait.

Give the simulator and the trigger the same clock and the trigger's deadlines, polls and retry
waits run in the simulator's time: :func:`run_on_clock` moves the clock to each sleep's end as
soon as the trigger sleeps, so an hour of polling takes milliseconds and the test asserts what
was asked (``clock.sleeps``, the simulator's request log and its timestamps), never how long it
took.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_fivetran_update.testing import ManualClock
from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger

FAST_RETRIES = {"retry_min_wait": 0.01, "retry_max_wait": 0.05}


def clocked_trigger(
    connection_id: str, clock: ManualClock, *, seconds: float = 30.0, **kwargs: Any
) -> FivetranConnectionStateTrigger:
    """A trigger on ``clock`` whose ``end_time`` is ``seconds`` from the clock's now."""
    options: dict[str, Any] = {"poll_interval": 0.2, **FAST_RETRIES, **kwargs}
    return FivetranConnectionStateTrigger(
        connection_id=connection_id, end_time=clock() + seconds, clock=clock, **options
    )


def run_on_clock(trigger: FivetranConnectionStateTrigger) -> list[dict[str, Any]]:
    """Run ``trigger`` (on a ManualClock) to its end, skipping its sleeps; every event's payload."""
    clock = trigger.clock
    assert isinstance(clock, ManualClock)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(clock.drive(collect()))


async def until(condition: Any, *, timeout: float = 30.0) -> None:
    """Yield to the loop until ``condition()`` holds (real time bounds it: a hang fails the test)."""
    loop = asyncio.get_running_loop()
    limit = loop.time() + timeout
    while not condition():
        assert loop.time() < limit, "condition not reached"
        await asyncio.sleep(0.005)


def record_sleeps(monkeypatch: Any, module: Any) -> list[float]:
    """Record the ``time.sleep`` calls of ``module`` (a sync transport's waits) instead of sleeping.

    Only ``module``'s name ``time`` is replaced: other modules, and the simulator, keep real time.
    """
    import time
    from types import SimpleNamespace

    asked: list[float] = []
    fake = SimpleNamespace(time=time.time, monotonic=time.monotonic, sleep=asked.append)
    monkeypatch.setattr(module, "time", fake)
    return asked
