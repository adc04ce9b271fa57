"""Quota-aware pacing: the pacer's arithmetic on a manual clock, then the hook against the simulator.

The simulator sends Fivetran's documented ``X-Rate-Limit`` and ``X-Rate-Limit-Remaining`` headers
over a rolling window and answers 429 past the limit. The window here is seconds long, not
Fivetran's hour, so ``[fivetran] rate_limit_window`` is set to match it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_fivetran_update.pacing import QuotaPacer, pacer_for
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.clock_helpers import record_sleeps
from tests.hooks.test_hook import ENV, make_hook, settle

CONN = "conn_paced"
CONN_PATH = f"/v1/connections/{CONN}"
LIMIT = 5
WINDOW = 2.0


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _headers(limit: int, remaining: int) -> dict[str, str]:
    return {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining)}


def _answer(pacer: QuotaPacer, clock: ManualClock, limit: int, remaining: int) -> None:
    """An answer carrying the quota headers arrives a moment after its request."""
    clock.now += 0.01
    pacer.observe(_headers(limit, remaining))


def _send(pacer: QuotaPacer, clock: ManualClock) -> float:
    """One request: wait its turn on the manual clock; return the time it leaves."""
    clock.now += pacer.reserve()[0]
    return clock.now


# -- the arithmetic --------------------------------------------------------------------------------


def test_without_quota_headers_nothing_waits() -> None:
    clock = ManualClock()
    pacer = QuotaPacer(10, clock=clock)
    assert [pacer.reserve()[0] for _ in range(100)] == [0.0] * 100
    pacer.observe({"Content-Type": "application/json"})
    assert pacer.reserve()[0] == 0.0


def test_room_is_used_at_once_then_requests_follow_the_window() -> None:
    clock = ManualClock()
    pacer = QuotaPacer(10, clock=clock)
    first = _send(pacer, clock)
    _answer(pacer, clock, 5, 4)  # the first request's answer
    burst = [_send(pacer, clock) for _ in range(4)]
    assert burst == [first + 0.01] * 4  # four left: no wait
    # The quota is used up: the sixth request waits until the first has left the 10 s window.
    sixth = _send(pacer, clock)
    assert sixth == pytest.approx(first + 10 + 0.05)
    # The next four follow the four that went with the first, one slot each.
    later = [_send(pacer, clock) for _ in range(4)]
    assert later == pytest.approx([first + 0.01 + 10.05] * 4)
    assert _send(pacer, clock) == pytest.approx(first + 20.1)


def test_a_request_is_timed_from_its_answer() -> None:
    # The server counted it somewhere between sending and answering: its slot is free for certain
    # only a window after the answer.
    clock = ManualClock()
    pacer = QuotaPacer(10, clock=clock)
    seconds, booked = pacer.reserve()
    assert seconds == 0.0
    clock.now += 0.5
    pacer.observe(_headers(1, 0), booked)
    assert pacer.reserve()[0] == pytest.approx(10.05)


def test_other_clients_usage_is_left_to_them() -> None:
    clock = ManualClock()
    pacer = QuotaPacer(10, clock=clock)
    start = _send(pacer, clock)
    _answer(pacer, clock, 5, 2)  # someone else used two of the five
    assert [_send(pacer, clock) for _ in range(2)] == [start + 0.01] * 2
    # Ours: three in the window. Room again when the first of them leaves it.
    assert _send(pacer, clock) == pytest.approx(start + 10.05)


def test_when_others_hold_the_whole_quota_it_tries_at_the_average_rate() -> None:
    clock = ManualClock()
    pacer = QuotaPacer(10, clock=clock)
    pacer.observe(_headers(5, 0))
    assert pacer.reserve()[0] == pytest.approx(10 / 5)


def test_requests_that_left_the_window_since_the_answer_free_room() -> None:
    clock = ManualClock()
    pacer = QuotaPacer(10, clock=clock)
    sent = [_send(pacer, clock) for _ in range(3)]
    _answer(pacer, clock, 3, 0)
    clock.now = sent[0] + 10.5  # all three have left; the answer is stale
    assert pacer.reserve()[0] == 0.0


def test_no_request_is_held_longer_than_max_wait(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    pacer = QuotaPacer(3600, clock=clock, max_wait=60)
    _send(pacer, clock)
    _answer(pacer, clock, 1, 0)
    assert pacer.reserve()[0] == 60
    assert "no requests left in the 3600 s window; sending after 60 s" in caplog.text


def test_headers_are_read_whatever_their_case_and_bad_values_ignored() -> None:
    clock = ManualClock()
    pacer = QuotaPacer(10, clock=clock)
    _send(pacer, clock)
    pacer.observe({"x-rate-limit": "1", "x-rate-limit-remaining": "0"})
    assert pacer.reserve()[0] == pytest.approx(10.05)
    other = QuotaPacer(10, clock=clock)
    other.observe({"X-Rate-Limit": "lots", "X-Rate-Limit-Remaining": "-3"})
    assert other.reserve()[0] == 0.0


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window must be > 0"):
        QuotaPacer(0)


# -- the hook against the simulator ----------------------------------------------------------------


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    monkeypatch.setenv("AIRFLOW__FIVETRAN__RATE_LIMIT_WINDOW", str(WINDOW))
    with FivetranSimulator() as simulator:
        simulator.add_connection(CONN)
        simulator.rate_limit(LIMIT, per_seconds=WINDOW)
        monkeypatch.setenv(ENV, simulator.airflow_connection_json())
        yield simulator


def _answered(sim: FivetranSimulator, status: int) -> int:
    return sum(1 for r in sim.requests if r.path == CONN_PATH and r.status == status)


def test_paced_reads_never_hit_the_limit(sim: FivetranSimulator) -> None:
    hook = make_hook(max_retries=5, retry_max_wait=5.0)
    for _ in range(3 * LIMIT):
        hook.get_connection_details(CONN)
    assert settle(sim, "GET", CONN_PATH, 3 * LIMIT) == 3 * LIMIT
    assert _answered(sim, 429) == 0


def test_hooks_in_one_process_share_the_accounts_pacer(sim: FivetranSimulator) -> None:
    for _ in range(2 * LIMIT):
        make_hook(max_retries=5, retry_max_wait=5.0).update_connection(CONN, paused=True)
    assert settle(sim, "PATCH", CONN_PATH, 2 * LIMIT) == 2 * LIMIT
    assert _answered(sim, 429) == 0
    first = make_hook()
    assert pacer_for(first._get_credentials()) is pacer_for(make_hook()._get_credentials())


def test_async_reads_share_the_pacer(sim: FivetranSimulator) -> None:
    hook = make_hook(max_retries=5, retry_max_wait=5.0)

    async def reads() -> list[dict[str, Any]]:
        try:
            first = await hook.aget_connection_details(CONN)  # the account's state is unknown until now
            rest = await asyncio.gather(*(hook.aget_connection_details(CONN) for _ in range(2 * LIMIT)))
            return [first, *rest]
        finally:
            await hook.aclose()

    assert len(asyncio.run(reads())) == 2 * LIMIT + 1
    assert settle(sim, "GET", CONN_PATH, 2 * LIMIT + 1) == 2 * LIMIT + 1
    assert _answered(sim, 429) == 0


def test_without_pacing_the_same_reads_are_answered_429(
    sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today's behaviour, for contrast: the retry policy alone recovers, after 429 answers."""
    # Read when the process first talks to the account: this simulator's port is new.
    monkeypatch.setenv("AIRFLOW__FIVETRAN__RATE_LIMIT_PACING", "False")
    hook = make_hook(max_retries=5, retry_min_wait=0.01, retry_max_wait=5.0)
    for _ in range(2 * LIMIT):
        hook.get_connection_details(CONN)
    limited = _answered(sim, 429)
    assert limited >= 1
    assert settle(sim, "GET", CONN_PATH, 2 * LIMIT + limited) == 2 * LIMIT + limited


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_pacing_never_holds_a_read_past_its_deadline(
    monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    """A wait's deadline bounds the pacer too: with the window's room used up for 30 s, a read
    whose deadline is 1 s away is sent at its deadline (and its 429 ends the wait), not 30 s later."""
    import time

    from airflow_provider_fivetran_update import pacing
    from airflow_provider_fivetran_update.exceptions import FivetranRetryLaterError
    from airflow_provider_fivetran_update.testing import ManualClock as SharedClock

    monkeypatch.setenv("AIRFLOW__FIVETRAN__RATE_LIMIT_WINDOW", "30")
    with FivetranSimulator() as simulator:
        simulator.add_connection(CONN)
        simulator.rate_limit(2, per_seconds=30)
        monkeypatch.setenv(ENV, simulator.airflow_connection_json())
        hook = make_hook(max_retries=5, retry_max_wait=60.0)
        hook.get_connection_details(CONN)
        hook.get_connection_details(CONN)
        with pytest.raises(FivetranRetryLaterError):
            if asynchronous:
                hook.clock = clock = SharedClock()
                sleeps = clock.sleeps
                asyncio.run(clock.drive(hook.aget_connection_details(CONN, deadline=clock() + 1.0)))
            else:
                sleeps = record_sleeps(monkeypatch, pacing)
                hook.get_connection_details(CONN, deadline=time.time() + 1.0)
        assert settle(simulator, "GET", CONN_PATH, 3) == 3
        assert sum(1 for r in simulator.requests if r.path == CONN_PATH and r.status == 429) == 1
    # Unpaced by the deadline, the pacer would have held the read for the 30 s the window needs.
    [held] = sleeps
    assert 0 < held <= 1.0
