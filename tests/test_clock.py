"""The clock waits run on: real time in production, a ManualClock that tests move (clock.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_fivetran_update.clock import SYSTEM_CLOCK, Clock
from airflow_provider_fivetran_update.testing import ManualClock


def test_the_system_clock_is_real_time() -> None:
    assert isinstance(SYSTEM_CLOCK, Clock)
    before = time.time()
    assert before <= SYSTEM_CLOCK() <= time.time()
    before = time.monotonic()
    assert before <= SYSTEM_CLOCK.monotonic() <= time.monotonic()
    asyncio.run(SYSTEM_CLOCK.sleep(0))


async def _turns() -> None:
    """Let every task that can run, run (a woken sleep resumes within two loop turns)."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_a_manual_clock_is_a_clock_whose_sleeps_end_when_it_is_advanced() -> None:
    clock = ManualClock(start=100.0)
    assert isinstance(clock, Clock)
    woken: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woken.append(name)

    async def main() -> None:
        tasks = [asyncio.create_task(sleeper(name, s)) for name, s in (("a", 5.0), ("b", 1.0), ("c", 0.0))]
        await _turns()
        assert woken == ["c"]  # a sleep of 0 s only yields
        assert (clock.sleeping, clock.next_wake()) == (2, 101.0)
        clock.advance(0.5)
        await _turns()
        assert woken == ["c"]
        clock.advance(0.5)
        await _turns()
        assert woken == ["c", "b"]
        assert clock.next_wake() == 105.0
        tasks[0].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert (clock.sleeping, clock.next_wake()) == (0, None)  # a cancelled sleep is forgotten

    asyncio.run(main())
    assert clock.sleeps == [5.0, 1.0, 0.0]
    assert clock() == clock.monotonic() == 101.0


def test_drive_moves_the_clock_from_wake_to_wake_in_order() -> None:
    clock = ManualClock(start=0.0)
    seen: list[tuple[str, float]] = []

    async def poller(name: str, interval: float, times: int) -> None:
        for _ in range(times):
            await clock.sleep(interval)
            seen.append((name, clock()))

    async def both() -> str:
        await asyncio.gather(poller("hourly", 3600.0, 2), poller("minutely", 60.0, 3))
        return "done"

    # Two hours of sleeps, none of them slept: wait_for only turns a hang into a failure.
    assert asyncio.run(asyncio.wait_for(clock.drive(both()), 30)) == "done"
    assert seen == [
        ("minutely", 60.0),
        ("minutely", 120.0),
        ("minutely", 180.0),
        ("hourly", 3600.0),
        ("hourly", 7200.0),
    ]
    assert clock.sleeps == [3600.0, 60.0, 60.0, 60.0, 3600.0]


def test_a_manual_clock_only_moves_forward() -> None:
    with pytest.raises(ValueError, match="only moves forward"):
        ManualClock().advance(-1)
