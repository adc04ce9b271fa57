"""FivetranConnectionStateTrigger run directly on an asyncio loop against the simulator over HTTP.

The pure state checks it shares with the sensor are in tests/test_states.py."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import threading
import time
from typing import Any

import pytest

from airflow_provider_fivetran_update._compat import TriggerEvent
from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger
from tests.clock_helpers import make_trigger, run_trigger, until
from tests.helpers import FAST_RETRIES, TRIGGERER_NOISE

# What a user running their DAG tests with this warning as an error would see fail.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

SOURCE_PASSWORD = "source-db-password-42"


def _gets(sim: FivetranSimulator, connection_id: str) -> int:
    return sim.request_count(method="GET", path=f"/v1/connections/{connection_id}")


# -- run() ------------------------------------------------------------------------------------------


def test_success_after_the_state_changes_yields_exactly_one_event(sim: FivetranSimulator) -> None:
    sim.add_connection("pg", setup_state="incomplete", config={"password": SOURCE_PASSWORD})

    def connect_later() -> None:
        while _gets(sim, "pg") < 2:
            time.sleep(0.02)
        sim.set_status("pg", setup_state="connected", sync_state="syncing")

    thread = threading.Thread(target=connect_later, daemon=True)
    thread.start()
    [event] = run_trigger(make_trigger("pg", expected_sync_state=["syncing"]))
    thread.join(5)

    assert event["status"] == "success"
    assert event["connection_id"] == "pg"
    assert "Fivetran connection 'pg' is ready" in event["message"]
    assert event["state"]["setup_state"] == "connected"
    assert event["state"]["sync_state"] == "syncing"
    assert _gets(sim, "pg") >= 3
    payload = json.dumps(event)  # events must be JSON
    assert SOURCE_PASSWORD not in payload
    assert sim.api_secret not in payload


def test_broken_yields_one_failed_event_with_the_setup_test_failures(sim: FivetranSimulator) -> None:
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

    sim.add_connection("my", broken=True, config={"password": SOURCE_PASSWORD})
    FivetranHook(retry_min_wait=0.01).update_connection("my", config={"password": SOURCE_PASSWORD})

    [event] = run_trigger(make_trigger("my"))

    assert event["status"] == "failed"
    assert "Fivetran connection 'my' is broken" in event["message"]
    assert "Validating credentials: Authentication failed" in event["message"]
    assert "Warnings: setup_tests_failed: Setup tests failed" in event["message"]
    assert event["state"]["setup_state"] == "broken"
    assert _gets(sim, "my") == 1
    assert SOURCE_PASSWORD not in json.dumps(event)


def test_timeout_never_sleeps_past_end_time(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("stuck", setup_state="incomplete")
    started = clock()

    [event] = run_trigger(make_trigger("stuck", clock, seconds=1.0, poll_interval=30))

    assert event["status"] == "timeout"
    assert "Fivetran connection 'stuck' is not ready yet" in event["message"]
    assert event["state"]["setup_state"] == "incomplete"
    # A 30 s poll interval, cut to the 1 s left: one read at the start, one at end_time.
    assert clock.sleeps == [0.0, 1.0]
    assert [r.time - started for r in sim.requests] == [0.0, 1.0]
    assert _gets(sim, "stuck") == 2


def test_end_time_already_passed_still_reads_once(sim: FivetranSimulator) -> None:
    sim.add_connection("late")
    [event] = run_trigger(make_trigger("late", seconds=-5))
    assert event["status"] == "success"  # a last look before reporting a timeout
    sim.set_status("late", setup_state="incomplete")
    [event] = run_trigger(make_trigger("late", seconds=-5))
    assert event["status"] == "timeout"


def test_unknown_connection_yields_one_error_event_without_retrying(sim: FivetranSimulator) -> None:
    [event] = run_trigger(make_trigger("does_not_exist"))
    assert event["status"] == "error"
    assert "does_not_exist" in event["message"]
    assert "404" in event["message"]
    assert event["state"] is None
    assert _gets(sim, "does_not_exist") == 1


@pytest.mark.parametrize(
    ("status", "headers"), [(503, None), (429, {"Retry-After": "0"})], ids=["503", "429-retry-after"]
)
def test_transient_errors_are_retried_by_the_hook_policy(
    sim: FivetranSimulator, status: int, headers: dict[str, str] | None
) -> None:
    sim.add_connection("flaky")
    sim.fail_next(2, status=status, headers=headers)

    [event] = run_trigger(make_trigger("flaky", max_retries=2))

    assert event["status"] == "success"
    assert _gets(sim, "flaky") == 3
    assert [request.status for request in sim.requests] == [status, status, 200]


def test_retries_exhausted_yields_one_error_event(sim: FivetranSimulator) -> None:
    sim.add_connection("down")
    sim.fail_next(4, status=503)

    [event] = run_trigger(make_trigger("down", max_retries=2))

    assert event["status"] == "error"
    assert "503" in event["message"]
    assert _gets(sim, "down") == 3  # the first try and max_retries=2 retries, no more


def test_cancellation_propagates_and_stops_polling(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("cancel_me", setup_state="incomplete")
    trigger = make_trigger("cancel_me", clock, poll_interval=0.1)
    events: list[Any] = []

    async def main() -> None:
        async def consume() -> None:
            async for event in trigger.run():
                events.append(event)

        running_before = asyncio.all_tasks()
        task = asyncio.create_task(consume())
        await until(lambda: clock.next_wake() is not None)  # read once, sleeping
        clock.advance(0.1)
        await until(lambda: _gets(sim, "cancel_me") == 2 and clock.next_wake() is not None)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Nothing is left that could poll: no sleep pending on the clock, no task in the loop.
        assert clock.next_wake() is None
        assert asyncio.all_tasks() <= running_before
        clock.advance(3600)
        await asyncio.sleep(0)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert events == []
    assert _gets(sim, "cancel_me") == 2  # nothing polled after the cancellation


def test_run_never_blocks_the_event_loop(
    sim: FivetranSimulator, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio's debug mode logs every callback that holds the loop for longer than the threshold."""
    import httpx  # noqa: F401  # imported once per process by the hook; not what this test is about

    sim.add_connection("nonblocking", setup_state="incomplete")
    sim.fail_next(1, status=503)
    trigger = make_trigger("nonblocking", clock, seconds=1.5, poll_interval=0.3, max_retries=1)

    async def events() -> list[Any]:
        return [event async for event in trigger.run()]

    async def main() -> list[Any]:
        asyncio.get_running_loop().slow_callback_duration = 0.25
        return await clock.drive(events())

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        [event] = asyncio.run(main(), debug=True)

    assert event.payload["status"] == "timeout"
    # The 503 and its retry at 0 s, then a read every 0.3 s; the last one at end_time (1.5 s).
    assert _gets(sim, "nonblocking") == 7
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()] == []


def test_first_poll_waits_for_first_poll_at(sim: FivetranSimulator, clock: ManualClock) -> None:
    """After a task has just read the connection, the trigger does not read it again at once."""
    sim.add_connection("pg_first")
    started = clock()
    events = run_trigger(make_trigger("pg_first", clock, first_poll_at=started + 0.6))
    assert [event["status"] for event in events] == ["success"]
    [request] = [r for r in sim.requests if r.path == "/v1/connections/pg_first"]
    assert clock.sleeps == pytest.approx([0.6])
    assert request.time - started == pytest.approx(0.6)
    assert request.status == 200


def test_first_poll_at_never_delays_past_end_time(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("pg_late", setup_state="incomplete")
    started = clock()
    events = run_trigger(make_trigger("pg_late", clock, seconds=0.3, first_poll_at=started + 30))
    assert [event["status"] for event in events] == ["timeout"]
    assert clock.sleeps == pytest.approx([0.3])
    assert [r.time - started for r in sim.requests] == pytest.approx([0.3])  # one last look at the deadline
    assert _gets(sim, "pg_late") == 1


# -- deadlines hold under retries ---------------------------------------------------------------------

PATIENT_RETRIES = {"retry_min_wait": 0.01, "retry_max_wait": 60.0, "max_retries": 5}


@pytest.mark.parametrize("retry_after", ["4", "3600"])
def test_a_rate_limit_storm_past_end_time_is_a_timeout_at_once(
    sim: FivetranSimulator, clock: ManualClock, retry_after: str
) -> None:
    sim.add_connection("storm", setup_state="incomplete")
    sim.fail_next(50, status=429, headers={"Retry-After": retry_after})
    started = clock()

    [event] = run_trigger(make_trigger("storm", clock, seconds=2.0, **PATIENT_RETRIES))

    assert event["status"] == "timeout"  # not an "error" event 20 s later
    assert f"Fivetran asked to wait {retry_after} s before the next request (Retry-After)" in event["message"]
    assert _gets(sim, "storm") == 1  # no blind retry into a certain 429
    assert clock.sleeps == [0.0]  # the first read's turn; nothing waited after the 429
    assert clock() == started


def test_retry_after_that_fits_is_slept_until_it_no_longer_fits(
    sim: FivetranSimulator, clock: ManualClock
) -> None:
    sim.add_connection("slow_storm", setup_state="incomplete")
    sim.fail_next(50, status=429, headers={"Retry-After": "1"})
    started = clock()

    [event] = run_trigger(make_trigger("slow_storm", clock, seconds=2.0, **PATIENT_RETRIES))

    # 429 at 0 s, slept 1 s, 429 at 1 s: another second would end at end_time, not before it.
    assert event["status"] == "timeout"
    assert _gets(sim, "slow_storm") == 2
    assert clock.sleeps == [0.0, 1.0]
    assert [r.time - started for r in sim.requests] == [0.0, 1.0]


def test_a_5xx_storm_ends_as_a_timeout_without_a_backoff_past_end_time(
    sim: FivetranSimulator, clock: ManualClock
) -> None:
    sim.add_connection("down_long", setup_state="incomplete")
    sim.fail_next(50, status=503)
    started = clock()

    events = run_trigger(
        make_trigger("down_long", clock, seconds=2.0, retry_min_wait=0.8, retry_max_wait=5.0, max_retries=5)
    )

    # 503 at 0 s, backoff 0.8-1 s, 503; the next backoff (1.6-2 s) would end after end_time.
    assert [event["status"] for event in events] == ["timeout"]
    assert "after the deadline" in events[0]["message"]
    assert _gets(sim, "down_long") == 2
    [first_read, backoff] = clock.sleeps
    assert first_read == 0.0
    assert 0.8 <= backoff <= 1.0
    assert [r.time - started for r in sim.requests] == pytest.approx([0.0, backoff])
    assert clock() - started == pytest.approx(backoff)  # the timeout came at once, not after another backoff


def test_a_retry_after_longer_than_retry_max_wait_is_waited_out_between_reads(
    sim: FivetranSimulator, clock: ManualClock
) -> None:
    """The hook does not sleep it (it would hold the request), the trigger does, then reads again."""
    sim.add_connection("limited")
    sim.fail_next(1, status=429, headers={"Retry-After": "2"})

    [event] = run_trigger(make_trigger("limited", clock, retry_min_wait=0.01, retry_max_wait=1.0))

    assert event["status"] == "success"
    gets = [r for r in sim.requests if r.path == "/v1/connections/limited"]
    assert [r.status for r in gets] == [429, 200]
    assert gets[1].time - gets[0].time == 2.0  # as Fivetran asked, not sooner
    assert clock.sleeps == [0.0, 2.0]


# -- a quiet triggerer -------------------------------------------------------------------------------


def _first_event_as_airflow_takes_it(
    trigger: FivetranConnectionStateTrigger,
) -> tuple[dict[str, Any], list[str]]:
    """Run the trigger as Airflow's in-process runner (``dag.test()``) does: ``anext`` once, then
    drop the generator; return the event and whatever the loop reported as unhandled."""
    problems: list[str] = []

    async def main() -> TriggerEvent | None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: problems.append(f"{context.get('message')} {context.get('exception')!r}")
        )
        return await anext(trigger.run(), None)

    event = asyncio.run(main())
    assert event is not None
    gc.collect()
    return dict(event.payload), problems


@pytest.mark.parametrize("batch_reads", [True, False], ids=["shared-reader", "own-hook"])
@pytest.mark.parametrize("outcome", ["success", "timeout", "error"])
def test_the_event_comes_after_the_reader_is_closed_so_nothing_is_left_to_clean_up(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture, batch_reads: bool, outcome: str
) -> None:
    sim.add_connection("quiet", setup_state="connected" if outcome == "success" else "incomplete")
    connection_id = "quiet" if outcome != "error" else "missing"
    trigger = make_trigger(connection_id, seconds=0.5, poll_interval=30, batch_reads=batch_reads)

    with caplog.at_level(logging.DEBUG):
        payload, problems = _first_event_as_airflow_takes_it(trigger)

    assert payload["status"] == outcome
    assert problems == []
    noise = [line for line in caplog.text.splitlines() if any(text in line for text in TRIGGERER_NOISE)]
    assert noise == []
    assert _gets(sim, connection_id) == (1 if outcome != "timeout" else 2)


# -- serialize() ------------------------------------------------------------------------------------


def test_serialize_round_trip_is_json_and_rebuilds_the_same_trigger() -> None:
    trigger = FivetranConnectionStateTrigger(
        connection_id="pg",
        end_time=1_900_000_000.5,
        fivetran_conn_id="fivetran_prod",
        expected_setup_state="connected",
        expected_sync_state={"syncing", "scheduled"},
        fail_on_broken=False,
        poll_interval=15,
        request_timeout=12,
        max_retries=3,
        retry_min_wait=0.5,
        retry_max_wait=20,
    )

    classpath, kwargs = trigger.serialize()

    module_name, _, class_name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is FivetranConnectionStateTrigger
    assert json.loads(json.dumps(kwargs)) == kwargs  # JSON values only: lists, not tuples or sets
    assert kwargs["expected_setup_state"] == ["connected"]
    assert kwargs["expected_sync_state"] == ["scheduled", "syncing"]
    assert kwargs["end_time"] == 1_900_000_000.5
    rebuilt = FivetranConnectionStateTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)


def test_a_clock_is_not_serialized_and_a_rebuilt_trigger_runs_on_real_time(clock: ManualClock) -> None:
    from airflow_provider_fivetran_update.clock import SYSTEM_CLOCK

    trigger = make_trigger("pg", clock)
    classpath, kwargs = trigger.serialize()

    assert "clock" not in kwargs
    on_real_time = FivetranConnectionStateTrigger(
        connection_id="pg", end_time=trigger.end_time, poll_interval=0.2, **FAST_RETRIES
    )
    assert (classpath, kwargs) == on_real_time.serialize()
    assert FivetranConnectionStateTrigger(**kwargs).clock is SYSTEM_CLOCK


def test_serialize_survives_airflow_serde() -> None:
    """The task runner stores trigger kwargs with Airflow's serde; dag.test() decodes them the same way."""
    serde = pytest.importorskip("airflow.sdk.serde")
    trigger = make_trigger("pg", expected_sync_state=None)
    classpath, kwargs = trigger.serialize()
    rebuilt = FivetranConnectionStateTrigger(**serde.deserialize(serde.serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
