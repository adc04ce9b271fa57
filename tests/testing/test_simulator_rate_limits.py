"""The simulator's API rate limit: Fivetran's documented headers over a rolling window."""

from __future__ import annotations

import httpx
import pytest
import requests

from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from tests.simulator_credentials import ACCEPT

pytest_plugins = ["tests.simulator_fixtures"]


def test_every_answer_carries_the_documented_headers(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    sim.rate_limit(100, per_seconds=60)
    sim.fail_next(1, status=503, path="/v1/connections/faulted")
    answers = [
        api.get(sim.url + "/v1/connections/conn_a"),  # 200
        api.get(sim.url + "/v1/connections/nope"),  # 404
        api.patch(sim.url + "/v1/connections/conn_a", json={"paused": "yes"}),  # 400
        api.get(sim.url + "/v1/connections/conn_a", headers={"Accept": "application/xml"}),  # 406
        api.get(sim.url + "/v1/connections/faulted"),  # 503 fault
        requests.get(sim.url + "/v1/connections/conn_a", headers=ACCEPT),  # 401
    ]
    assert [answer.status_code for answer in answers] == [200, 404, 400, 406, 503, 401]
    assert {answer.headers["X-Rate-Limit"] for answer in answers} == {"100"}
    # Counted: the four answered calls; the fault and the unauthenticated call only peek.
    assert [answer.headers["X-Rate-Limit-Remaining"] for answer in answers] == [
        "99",
        "98",
        "97",
        "96",
        "96",
        "96",
    ]
    assert all("X-Rate-Limit-Limit" not in answer.headers for answer in answers)


def test_the_window_rolls(sim: FivetranSimulator, api: requests.Session, clock: ManualClock) -> None:
    sim.add_connection("conn_a")
    sim.rate_limit(3, per_seconds=10)
    remaining = []
    for step in (0, 0, 5):
        clock.advance(step)
        remaining.append(api.get(sim.url + "/v1/connections/conn_a").headers["X-Rate-Limit-Remaining"])
    assert remaining == ["2", "1", "0"]
    clock.advance(5)  # the first two leave the window; the third is still in it
    answer = api.get(sim.url + "/v1/connections/conn_a")
    assert answer.status_code == 200 and answer.headers["X-Rate-Limit-Remaining"] == "1"
    limited = api.get(sim.url + "/v1/connections/conn_a")
    assert limited.status_code == 200  # the second slot
    refused = api.get(sim.url + "/v1/connections/conn_a")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
    assert sim.request_count("GET", "/v1/connections/conn_a") == 6


def test_documented_long_retry_after(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    sim.rate_limit(1, per_seconds=10, retry_after=3600)
    assert api.get(sim.url + "/v1/connections/conn_a").status_code == 200
    refused = api.patch(sim.url + "/v1/connections/conn_a", json={"paused": True})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3600"
    assert "3600 seconds" in refused.json()["message"]
    assert sim.connection("conn_a")["paused"] is False
    with pytest.raises(ValueError, match="retry_after"):
        sim.rate_limit(1, retry_after=0)
    with httpx.Client(base_url=sim.url) as admin:
        assert (
            admin.post("/__admin/rate_limit", json={"requests": 1, "retry_after": "soon"}).status_code == 400
        )
        admin.post(
            "/__admin/rate_limit", json={"requests": 1, "per_seconds": 5, "retry_after": 3600}
        ).raise_for_status()
    assert api.get(sim.url + "/v1/connections/conn_a").status_code == 200
    assert api.get(sim.url + "/v1/connections/conn_a").headers["Retry-After"] == "3600"


def test_no_headers_without_a_limit(sim: FivetranSimulator, api: requests.Session) -> None:
    sim.add_connection("conn_a")
    answer = api.get(sim.url + "/v1/connections/conn_a")
    assert answer.status_code == 200
    assert not [name for name in answer.headers if name.lower().startswith("x-rate-limit")]
