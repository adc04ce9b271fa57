"""Triggers sharing one loop and one Airflow connection share their reads (triggers/_reads.py).

Many FivetranConnectionStateTrigger instances run in one asyncio loop against the simulator over
HTTP, as a triggerer runs them; request counts are exact.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from airflow_provider_fivetran_update.triggers import _reads
from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger
from tests.clock_helpers import clocked_trigger

# What a user running their DAG tests with this warning as an error would see fail.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

FAST_RETRIES = {"retry_min_wait": 0.01, "retry_max_wait": 0.05}
SOURCE_PASSWORD = "source-db-password-42"


@pytest.fixture
def sim(fivetran_airflow_conn: FivetranSimulator) -> FivetranSimulator:
    return fivetran_airflow_conn


def _trigger(connection_id: str, *, seconds: float = 30.0, **kwargs: Any) -> FivetranConnectionStateTrigger:
    options: dict[str, Any] = {"poll_interval": 0.2, **FAST_RETRIES, **kwargs}
    return FivetranConnectionStateTrigger(
        connection_id=connection_id, end_time=time.time() + seconds, **options
    )


def _lists(sim: FivetranSimulator) -> int:
    return sim.request_count(method="GET", path="/v1/connections")


def _single_gets(sim: FivetranSimulator) -> int:
    return sim.request_count(method="GET", path="/v1/connections/*")


def _add(sim: FivetranSimulator, ids: Iterable[str], **status: Any) -> list[str]:
    ids = list(ids)
    for cid in ids:
        sim.add_connection(cid, config={"password": SOURCE_PASSWORD})
        if status:
            sim.set_status(cid, **status)
    return ids


async def _run_all(
    triggers: list[FivetranConnectionStateTrigger],
    during: Callable[[list[asyncio.Task[None]]], Awaitable[None]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every trigger as its own task in this loop, as the triggerer does; events per id."""
    events: dict[str, list[dict[str, Any]]] = {t.connection_id: [] for t in triggers}
    running_before = asyncio.all_tasks()

    async def consume(trigger: FivetranConnectionStateTrigger) -> None:
        async for event in trigger.run():
            events[trigger.connection_id].append(event.payload)

    tasks = [asyncio.create_task(consume(t)) for t in triggers]
    if during is not None:
        await during(tasks)
    await asyncio.gather(*tasks, return_exceptions=True)
    # Nothing outlives the triggers: the coordinator and its hook are gone with the last one.
    assert _reads.coordinators(asyncio.get_running_loop()) == {}
    await asyncio.sleep(0)  # the coordinator's cancelled tasks finish their callbacks
    assert asyncio.all_tasks() <= running_before
    return events


def _run(
    triggers: list[FivetranConnectionStateTrigger],
    during: Callable[[list[asyncio.Task[None]]], Awaitable[None]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    return asyncio.run(asyncio.wait_for(_run_all(triggers, during), 60))


def _run_on_clock(triggers: list[FivetranConnectionStateTrigger]) -> dict[str, list[dict[str, Any]]]:
    """:func:`_run` for triggers on one ManualClock, moved whenever they all wait on it."""
    clock = triggers[0].clock
    assert isinstance(clock, ManualClock)
    return asyncio.run(asyncio.wait_for(clock.drive(_run_all(triggers)), 60))


def _gathering() -> int:
    """Reads waiting in this loop's coordinators for their next batch."""
    return sum(c.gathering for c in _reads.coordinators(asyncio.get_running_loop()).values())


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    limit = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < limit, "condition not reached"
        await asyncio.sleep(0.01)


def test_fifty_triggers_are_served_by_the_listing_and_each_gets_one_event(
    sim: FivetranSimulator, clock: ManualClock
) -> None:
    ids = _add(sim, (f"pg_{i:02d}" for i in range(50)), setup_state="incomplete")

    async def connect_after_first_round(tasks: list[asyncio.Task[None]]) -> None:
        await _until(lambda: _gathering() == 50)
        clock.advance(_reads.GATHER_WINDOW_MIN)  # the window ends: one listing for all
        await _until(lambda: clock.sleeping == 50)  # each read its answer, and sleeps till the next poll
        assert (_lists(sim), _single_gets(sim)) == (1, 0)
        for cid in ids:
            sim.set_status(cid, setup_state="connected")
        clock.advance(0.2)  # the next poll
        await _until(lambda: _gathering() == 50)
        clock.advance(_reads.GATHER_WINDOW_MIN)

    events = _run([clocked_trigger(cid, clock) for cid in ids], connect_after_first_round)

    assert all(len(payloads) == 1 for payloads in events.values())
    assert {cid: payloads[0]["status"] for cid, payloads in events.items()} == dict.fromkeys(ids, "success")
    assert _single_gets(sim) == 0
    assert _lists(sim) == 2  # the first (incomplete) round, then the one that sees "connected"
    assert sim.request_count() == 2
    for cid, [payload] in events.items():
        assert payload["connection"]["id"] == cid
        assert payload["state"]["setup_state"] == "connected"
        text = json.dumps(payload)
        assert SOURCE_PASSWORD not in text
        assert sim.api_secret not in text


def test_every_page_of_the_listing_is_read(sim: FivetranSimulator) -> None:
    _add(sim, (f"bulk_{i:04d}" for i in range(1005)))
    ids = [f"bulk_{i:04d}" for i in range(0, 1005, 80)]  # 13 triggers, some on the second page

    events = _run([_trigger(cid) for cid in ids])

    assert [payloads[0]["status"] for payloads in events.values()] == ["success"] * len(ids)
    assert all(len(payloads) == 1 for payloads in events.values())
    assert _lists(sim) == 2  # 1,000 + 5
    assert _single_gets(sim) == 0


def test_three_triggers_send_three_gets_and_no_listing(sim: FivetranSimulator) -> None:
    ids = _add(sim, ["a", "b", "c"])
    events = _run([_trigger(cid) for cid in ids])
    assert [payloads[0]["status"] for payloads in events.values()] == ["success"] * 3
    assert _lists(sim) == 0
    assert [_single_gets(sim)] == [3]
    assert sorted(r.path for r in sim.requests) == [f"/v1/connections/{cid}" for cid in ids]


def test_below_the_threshold_reads_are_not_delayed(sim: FivetranSimulator, clock: ManualClock) -> None:
    """Fewer triggers than BATCH_THRESHOLD: no gathering window, exactly the old timing."""
    ids = _add(sim, [f"few_{i}" for i in range(_reads.BATCH_THRESHOLD - 1)])
    started = clock()
    events = _run_on_clock([clocked_trigger(cid, clock, poll_interval=60) for cid in ids])
    # Gathering would hold these reads for the 3 s window of a 60 s poll interval.
    assert _reads.gather_window(60) == _reads.GATHER_WINDOW_MAX
    assert clock.sleeps == [0.0] * len(ids)  # each trigger's first read, at once; no gathering
    assert {r.time for r in sim.requests} == {started}
    assert all(payloads[0]["status"] == "success" for payloads in events.values())
    assert (_lists(sim), _single_gets(sim)) == (0, len(ids))


def test_batch_reads_false_keeps_one_get_per_trigger(sim: FivetranSimulator) -> None:
    ids = _add(sim, [f"solo_{i:02d}" for i in range(12)])
    triggers = [_trigger(cid, batch_reads=False) for cid in ids]
    _, kwargs = triggers[0].serialize()
    assert kwargs["batch_reads"] is False
    assert "batch_reads" not in _trigger("x").serialize()[1]  # the default is not written
    assert FivetranConnectionStateTrigger(**kwargs).batch_reads is False

    events = _run(triggers)

    assert all(payloads[0]["status"] == "success" for payloads in events.values())
    assert (_lists(sim), _single_gets(sim)) == (0, 12)


def test_an_id_missing_from_the_listing_gets_its_own_get(
    sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key that may read a connection but not list it, or a connection created after the listing."""
    ids = _add(sim, [f"vis_{i:02d}" for i in range(12)])
    page = sim.state.page

    def page_without_hidden(**kwargs: Any) -> tuple[list[dict[str, Any]], str | None]:
        items, cursor = page(**kwargs)
        return [item for item in items if item["id"] != "vis_07"], cursor

    monkeypatch.setattr(sim.state, "page", page_without_hidden)

    events = _run([_trigger(cid) for cid in [*ids, "does_not_exist"]])

    assert all(events[cid][0]["status"] == "success" for cid in ids)
    [missing] = events["does_not_exist"]
    assert missing["status"] == "error"
    assert "404" in missing["message"]
    assert _lists(sim) == 1
    assert sorted(r.path for r in sim.requests if r.path != "/v1/connections") == [
        "/v1/connections/does_not_exist",
        "/v1/connections/vis_07",
    ]


def test_a_listing_answered_503_is_retried_by_the_hook(sim: FivetranSimulator) -> None:
    ids = _add(sim, [f"r_{i:02d}" for i in range(12)])
    sim.fail_next(2, status=503, path="/v1/connections")

    events = _run([_trigger(cid, max_retries=2) for cid in ids])

    assert all(payloads[0]["status"] == "success" for payloads in events.values())
    assert [r.status for r in sim.requests] == [503, 503, 200]
    assert _single_gets(sim) == 0


def test_a_listing_that_keeps_failing_with_503_falls_back_to_one_get_each(sim: FivetranSimulator) -> None:
    ids = _add(sim, [f"f_{i:02d}" for i in range(12)])
    sim.fail_next(2, status=503, path="/v1/connections")

    events = _run([_trigger(cid, max_retries=1) for cid in ids])

    assert all(payloads[0]["status"] == "success" for payloads in events.values())
    assert (_lists(sim), _single_gets(sim)) == (2, 12)


def test_a_listing_rate_limited_past_the_retries_fails_every_read_without_more_requests(
    sim: FivetranSimulator,
) -> None:
    ids = _add(sim, [f"q_{i:02d}" for i in range(12)])
    sim.fail_next(2, status=429, headers={"Retry-After": "0"}, path="/v1/connections")

    events = _run([_trigger(cid, max_retries=1) for cid in ids])

    for payloads in events.values():
        [payload] = payloads
        assert payload["status"] == "error"
        assert "429" in payload["message"]
        assert payload["state"] is None
    assert [r.status for r in sim.requests] == [429, 429]  # no GET storm on a spent rate limit


def test_a_listing_rate_limited_past_end_time_times_every_trigger_out_at_once(
    sim: FivetranSimulator, clock: ManualClock
) -> None:
    ids = _add(sim, [f"r_{i:02d}" for i in range(12)], setup_state="incomplete")
    sim.fail_next(50, status=429, headers={"Retry-After": "4"})
    started = clock()

    events = _run_on_clock([clocked_trigger(cid, clock, seconds=2.0, retry_max_wait=60.0) for cid in ids])

    for payloads in events.values():
        [payload] = payloads
        assert payload["status"] == "timeout"
        assert "Fivetran asked to wait 4 s" in payload["message"]
    assert [r.status for r in sim.requests] == [429]  # one listing, no retry into the limit
    # The only wait was the gathering window; the 429 timed every trigger out at once.
    assert [s for s in clock.sleeps if s] == [_reads.GATHER_WINDOW_MIN]
    assert clock() - started == pytest.approx(_reads.GATHER_WINDOW_MIN)


def test_a_listing_refused_with_403_is_not_asked_again(sim: FivetranSimulator, clock: ManualClock) -> None:
    ids = _add(sim, [f"p_{i:02d}" for i in range(12)], setup_state="incomplete")
    sim.fail_next(1, status=403, path="/v1/connections")

    async def one_round(tasks: list[asyncio.Task[None]]) -> None:
        await _until(lambda: _gathering() == 12)
        clock.advance(_reads.GATHER_WINDOW_MIN)
        await _until(lambda: clock.sleeping == 12 or all(task.done() for task in tasks))

    async def connect_later(tasks: list[asyncio.Task[None]]) -> None:
        await one_round(tasks)  # the listing is refused: twelve GETs instead
        clock.advance(0.2)
        await one_round(tasks)  # twelve GETs, no listing
        for cid in ids:
            sim.set_status(cid, setup_state="connected")
        clock.advance(0.2)
        await one_round(tasks)

    events = _run([clocked_trigger(cid, clock) for cid in ids], connect_later)

    assert all(payloads[0]["status"] == "success" for payloads in events.values())
    assert (_lists(sim), _single_gets(sim)) == (1, 36)


def test_cancelled_triggers_do_not_disturb_the_others(sim: FivetranSimulator, clock: ManualClock) -> None:
    ids = _add(sim, [f"c_{i:02d}" for i in range(20)], setup_state="incomplete")
    cancelled = ids[:4] + ids[10:13]

    async def cancel_some(tasks: list[asyncio.Task[None]]) -> None:
        await _until(lambda: _gathering() == 20)
        for task in tasks[:4]:  # inside the first gathering window: their reads are pending
            task.cancel()
        await _until(lambda: _gathering() == 16)
        clock.advance(_reads.GATHER_WINDOW_MIN)
        await _until(lambda: clock.sleeping == 16)  # between two reads
        for task in tasks[10:13]:
            task.cancel()
        await asyncio.gather(*(tasks[:4] + tasks[10:13]), return_exceptions=True)
        assert all(task.cancelled() for task in tasks[:4] + tasks[10:13])
        for cid in ids:
            sim.set_status(cid, setup_state="connected")
        clock.advance(0.2)
        await _until(lambda: _gathering() == 13)
        clock.advance(_reads.GATHER_WINDOW_MIN)

    events = _run([clocked_trigger(cid, clock) for cid in ids], cancel_some)

    assert all(events[cid] == [] for cid in cancelled)
    alive = [cid for cid in ids if cid not in cancelled]
    assert [events[cid][0]["status"] for cid in alive] == ["success"] * len(alive)
    assert all(len(events[cid]) == 1 for cid in alive)
    assert (_lists(sim), _single_gets(sim)) == (2, 0)


def test_cancelling_every_trigger_leaves_nothing_running(sim: FivetranSimulator, clock: ManualClock) -> None:
    ids = _add(sim, [f"z_{i:02d}" for i in range(15)], setup_state="incomplete")

    async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
        await _until(lambda: clock.next_wake() is not None)  # the reads gather
        clock.advance(_reads.GATHER_WINDOW_MIN)
        await _until(lambda: clock.sleeping == len(tasks))  # one listing read, all sleep till the next poll
        for task in tasks:
            task.cancel()

    events = _run([clocked_trigger(cid, clock) for cid in ids], cancel_all)
    assert all(payloads == [] for payloads in events.values())
    # _run checked that no task and no coordinator outlived the triggers; nothing sleeps either.
    assert clock.next_wake() is None
    assert sim.request_count() == 1


def test_triggers_with_other_settings_do_not_share(sim: FivetranSimulator) -> None:
    ids = _add(sim, [f"m_{i:02d}" for i in range(16)])
    triggers = [_trigger(cid, max_retries=i % 2) for i, cid in enumerate(ids)]  # two groups of 8
    events = _run(triggers)
    assert all(payloads[0]["status"] == "success" for payloads in events.values())
    assert (_lists(sim), _single_gets(sim)) == (0, 16)


def test_end_time_caps_the_gathering_window(sim: FivetranSimulator, clock: ManualClock) -> None:
    ids = _add(sim, [f"e_{i:02d}" for i in range(12)], setup_state="incomplete")
    started = clock()
    events = _run_on_clock([clocked_trigger(cid, clock, seconds=-5, poll_interval=600) for cid in ids])
    # A 600 s poll interval gathers for 3 s; a passed deadline must not wait for that window.
    assert _reads.gather_window(600) == _reads.GATHER_WINDOW_MAX
    assert clock.sleeps == [0.0] * (len(ids) + 1)  # each first read, and a gathering of 0 s
    assert clock() == started
    assert all(payloads[0]["status"] == "timeout" for payloads in events.values())
    assert (_lists(sim), _single_gets(sim)) == (1, 0)


def test_gather_window_follows_the_poll_interval() -> None:
    assert _reads.gather_window(0.2) == _reads.GATHER_WINDOW_MIN
    assert _reads.gather_window(20) == pytest.approx(20 * _reads.GATHER_WINDOW_FRACTION)
    assert _reads.gather_window(3600) == _reads.GATHER_WINDOW_MAX
