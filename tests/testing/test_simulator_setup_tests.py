"""Setup tests in the simulator: when they run, how long they take, their rate limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests

from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from airflow_provider_fivetran_update.testing.faults import SetupTestLimiter
from tests.simulator_credentials import ACCEPT, KEY, SECRET

pytest_plugins = ["tests.simulator_fixtures"]


def patch(sim: FivetranSimulator, connection_id: str, **body: Any) -> requests.Response:
    return requests.patch(
        f"{sim.url}/v1/connections/{connection_id}", json=body, auth=(KEY, SECRET), headers=ACCEPT
    )


def run_tests(sim: FivetranSimulator, connection_id: str) -> requests.Response:
    return requests.post(
        f"{sim.url}/v1/connections/{connection_id}/test", json={}, auth=(KEY, SECRET), headers=ACCEPT
    )


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_every_patch_runs_setup_tests_unless_it_turns_them_off(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a")
    sim.add_connection("conn_b", broken=True)
    assert patch(sim, "conn_a", paused=True).status_code == 200
    assert sim.setup_test_count("conn_a") == 1
    assert patch(sim, "conn_a", paused=False, run_setup_tests=False).status_code == 200
    assert sim.setup_test_count("conn_a") == 1
    assert patch(sim, "conn_a", sync_frequency=60, run_setup_tests=True).status_code == 200
    assert run_tests(sim, "conn_a").status_code == 200
    assert sim.setup_test_count("conn_a") == 3
    # A schedule change on a connection whose source rejects the credentials leaves it broken.
    broken = patch(sim, "conn_b", sync_frequency=60).json()["data"]
    assert broken["status"]["setup_state"] == "broken"
    assert [warning["code"] for warning in broken["status"]["warnings"]] == ["setup_tests_failed"]
    assert sim.setup_test_count() == 4
    assert sim.raw_connection("conn_b")["setup_test_runs"] == 1


def test_slow_setup_tests_time_out_a_short_client_but_the_change_is_made() -> None:
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, setup_tests_seconds=3.0) as sim:
        sim.add_connection("conn_a")
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.patch(
                f"{sim.url}/v1/connections/conn_a",
                json={"paused": True},
                auth=(KEY, SECRET),
                headers=ACCEPT,
                timeout=(5, 0.5),
            )
        # Fivetran has the change before it starts the tests; the client only missed the answer.
        assert sim.connection("conn_a")["paused"] is True
        assert sim.setup_test_count("conn_a") == 1
        # Logged, unanswered, once the simulator sees the client go (no second PATCH was sent).
        assert wait_for(lambda: sim.request_count("PATCH", "/v1/connections/conn_a") == 1)
        assert [item.status for item in sim.requests] == [None]
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(
                f"{sim.url}/v1/connections/conn_a/test",
                json={},
                auth=(KEY, SECRET),
                headers=ACCEPT,
                timeout=(5, 0.5),
            )
        assert sim.setup_test_count("conn_a") == 2
        assert wait_for(lambda: sim.request_count() == 2)
        assert [item.status for item in sim.requests] == [None, None]


def test_setup_test_rate_limit_answers_429_and_changes_nothing(
    sim: FivetranSimulator, clock: ManualClock
) -> None:
    sim.add_connection("conn_a")
    sim.set_setup_test_limits([(2, 60)])
    assert patch(sim, "conn_a", sync_frequency=60).status_code == 200
    clock.advance(10)
    assert run_tests(sim, "conn_a").status_code == 200
    clock.advance(20)
    limited = patch(sim, "conn_a", paused=True)
    assert limited.status_code == 429
    assert limited.json()["code"] == "TooManyRequests"
    assert "setup-test limit (2 per 60 s)" in limited.json()["message"]
    assert "run_setup_tests: false" in limited.json()["message"]
    assert limited.headers["Retry-After"] == "30"
    assert sim.connection("conn_a")["paused"] is False
    assert run_tests(sim, "conn_a").status_code == 429
    assert sim.setup_test_count("conn_a") == 2
    # An update without setup tests is not limited by them.
    assert patch(sim, "conn_a", paused=True, run_setup_tests=False).status_code == 200
    clock.advance(30)
    assert patch(sim, "conn_a", paused=False).status_code == 200
    assert sim.setup_test_count("conn_a") == 3
    assert sim.request_count("PATCH", "/v1/connections/conn_a") == 4
    sim.set_setup_test_limits(None)
    for _ in range(3):
        assert run_tests(sim, "conn_a").status_code == 200


def test_documented_presets() -> None:
    paid = SetupTestLimiter()
    paid.configure("paid")
    assert [paid.acquire(0.0) for _ in range(250)] == [None] * 250
    assert paid.acquire(0.0) == 60
    # 250 a minute for ten minutes reaches the 2,500 an hour.
    for minute in range(1, 10):
        assert [paid.acquire(minute * 60.0) for _ in range(250)] == [None] * 250
    assert paid.acquire(600.0) == 3000  # the first minute's runs leave the hour at 3,600 s
    assert paid.acquire(3600.0) is None

    trial = SetupTestLimiter()
    trial.configure("trial")
    assert [trial.acquire(float(n)) for n in range(50)] == [None] * 50
    assert trial.acquire(100.0) == 3500
    with pytest.raises(ValueError, match="paid, trial"):
        trial.configure("enterprise")
    with pytest.raises(ValueError, match="runs >= 1"):
        trial.configure([(0, 60)])


def test_setup_tests_from_the_admin_api(sim: FivetranSimulator, clock: ManualClock) -> None:
    sim.add_connection("conn_a")
    with httpx.Client(base_url=sim.url) as admin:
        answer = admin.post("/__admin/setup_tests", json={"limits": "trial", "seconds": 0})
        assert answer.json() == {"seconds": 0.0, "limits": [[50, 3600.0]]}
        assert admin.post("/__admin/setup_tests", json={"limits": [[1, 30]]}).status_code == 200
        assert admin.post("/__admin/setup_tests", json={"limits": "gold"}).status_code == 400
        assert admin.post("/__admin/setup_tests", json={"seconds": -1}).status_code == 400
        assert admin.post("/__admin/setup_tests", json={"duration": 1}).status_code == 400
    assert run_tests(sim, "conn_a").status_code == 200
    assert run_tests(sim, "conn_a").status_code == 429
    # reset() goes back to the limits the simulator was built with (none here).
    sim.reset()
    sim.add_connection("conn_a")
    assert run_tests(sim, "conn_a").status_code == 200
    assert run_tests(sim, "conn_a").status_code == 200


def test_setup_test_limits_option() -> None:
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, setup_test_limits=[(1, 3600)]) as sim:
        sim.add_connection("conn_a")
        assert run_tests(sim, "conn_a").status_code == 200
        assert patch(sim, "conn_a", paused=True).status_code == 429
        sim.reset()
        sim.add_connection("conn_a")
        assert run_tests(sim, "conn_a").status_code == 200
        assert run_tests(sim, "conn_a").status_code == 429
