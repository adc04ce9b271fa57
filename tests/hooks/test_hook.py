"""FivetranHook against the Fivetran API simulator, over real loopback HTTP.

Nothing of ours is mocked: every test sends real requests (requests on the sync path, httpx on the
async one) and counts what the simulator received. Retry waits are tiny except where the wait
itself is under test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from airflow_provider_fivetran_update import __version__
from airflow_provider_fivetran_update import api as api_module
from airflow_provider_fivetran_update.client import DEFAULT_BASE_URL, RetryableAPIError
from airflow_provider_fivetran_update.exceptions import (
    FivetranAPIError,
    FivetranError,
    FivetranRateLimitError,
    FivetranRetryLaterError,
    FivetranValidationError,
)
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.redaction import SECRET_MASK
from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock, RecordedRequest
from tests.clock_helpers import record_sleeps

API_KEY = "sim-key"
API_SECRET = "sim-secret-6f1d2c"
CONFIG_SECRET = "hunter2-secret"
CONN = "conn_a"
CONN_PATH = f"/v1/connections/{CONN}"
ENV = "AIRFLOW_CONN_FIVETRAN_DEFAULT"

T = TypeVar("T")


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    """A running simulator with one connection; ``fivetran_default`` points at it."""
    with FivetranSimulator(api_key=API_KEY, api_secret=API_SECRET) as simulator:
        simulator.add_connection(CONN, service="postgres", config={"host": "db", "password": "pw-in-sim"})
        monkeypatch.setenv(ENV, simulator.airflow_connection_json())
        yield simulator


def make_hook(**kwargs: Any) -> FivetranHook:
    options: dict[str, Any] = {
        "timeout": 5.0,
        "connect_timeout": 5.0,
        "max_retries": 3,
        "retry_min_wait": 0.01,
        "retry_max_wait": 0.05,
    }
    options.update(kwargs)
    return FivetranHook(**options)


def run_async(hook: FivetranHook, call: Callable[[], Awaitable[T]]) -> T:
    """Run one async hook call on a fresh loop, closing the hook's client on that loop."""

    async def main() -> T:
        try:
            return await call()
        finally:
            await hook.aclose()

    return asyncio.run(main())


def settle(sim: FivetranSimulator, method: str | None, path: str | None, expected: int) -> int:
    """The request count once it reaches ``expected`` (or 3 s have passed), after a call returned.

    The simulator logs a request as its answer starts, and a dropped one before it closes the
    connection, so by the time a call has returned every request it sent is in the log, but one
    the client gave up on during a ``delay`` fault: that one is logged when the server notices,
    which this waits for. A request more than expected is therefore already counted.
    """
    deadline = time.monotonic() + 3
    while sim.request_count(method, path) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return sim.request_count(method, path)


def logged(sim: FivetranSimulator, expected: int) -> list[RecordedRequest]:
    """The simulator's request log once it holds ``expected`` requests."""
    settle(sim, None, None, expected)
    return sim.requests


# -- construction and configuration --------------------------------------------------------------


def test_class_attributes_and_ui_behaviour() -> None:
    assert FivetranHook.conn_type == "fivetran"
    assert FivetranHook.default_conn_name == "fivetran_default"
    assert FivetranHook.conn_name_attr == "fivetran_conn_id"
    assert FivetranHook.hook_name == "Fivetran"
    behaviour = FivetranHook.get_ui_field_behaviour()
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "extra"}
    assert behaviour["relabeling"] == {
        "login": "API Key",
        "password": "API Secret",
        "host": "API base URL (optional)",
    }
    assert behaviour["placeholders"]["host"] == DEFAULT_BASE_URL
    assert FivetranHook.get_connection_form_widgets() == {}


def test_init_does_no_io_and_validates_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    hook = FivetranHook("no_such_connection")  # nothing is read until the first call
    assert hook.fivetran_conn_id == "no_such_connection"
    assert hook.retry_policy.max_retries == 5
    for bad in (
        {"timeout": 0},
        {"connect_timeout": -1},
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"retry_min_wait": -0.1},
        {"retry_min_wait": 10, "retry_max_wait": 1},
    ):
        with pytest.raises(ValueError):
            FivetranHook(**bad)
    with pytest.raises(ValueError):
        FivetranHook("")


def test_astronomer_style_connection_works_unchanged(
    sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """airflow-provider-fivetran-async users have login/password, maybe extras: both ignored."""
    monkeypatch.setenv(
        ENV,
        json.dumps(
            {
                "conn_type": "fivetran",
                "login": API_KEY,
                "password": API_SECRET,
                "host": sim.url + "/",
                "extra": {"retry_limit": 3, "something_else": "x"},
            }
        ),
    )
    assert make_hook().get_connection_details(CONN)["id"] == CONN


@pytest.mark.parametrize(
    ("conn", "missing"),
    [
        ({"conn_type": "fivetran", "password": "s"}, "Login (the Fivetran API key)"),
        ({"conn_type": "fivetran", "login": "k"}, "Password (the Fivetran API secret)"),
    ],
)
def test_missing_credentials_say_what_and_where(
    sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch, conn: dict[str, str], missing: str
) -> None:
    monkeypatch.setenv(ENV, json.dumps({**conn, "host": sim.url}))
    with pytest.raises(FivetranError) as caught:
        make_hook().get_connection_details(CONN)
    assert missing in str(caught.value)
    assert "'fivetran_default'" in str(caught.value)
    assert ENV in str(caught.value)
    assert sim.request_count() == 0
    ok, message = make_hook().test_connection()
    assert not ok
    assert missing in message


# -- requests on the wire -----------------------------------------------------------------------


def test_get_sends_fivetran_headers_and_basic_auth(sim: FivetranSimulator) -> None:
    hook = make_hook()
    sent_authorization: list[str] = []
    hook.get_conn().hooks["response"].append(
        lambda response, *args, **kwargs: sent_authorization.append(response.request.headers["Authorization"])
    )
    data = hook.get_connection_details(CONN)
    assert data["id"] == CONN
    (recorded,) = logged(sim, 1)
    assert (recorded.method, recorded.path, recorded.status) == ("GET", CONN_PATH, 200)
    assert recorded.headers["accept"] == "application/json;version=2"
    assert recorded.headers["user-agent"].startswith(f"airflow-provider-fivetran-update/{__version__} ")
    assert "content-type" not in recorded.headers
    expected = "Basic " + base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
    assert sent_authorization == [expected]


def test_patch_round_trip(sim: FivetranSimulator) -> None:
    hook = make_hook()
    data = hook.update_connection(CONN, paused=True, sync_frequency="60", daily_sync_time=None)
    assert data["paused"] is True
    assert data["sync_frequency"] == 60
    (recorded,) = logged(sim, 1)
    assert (recorded.method, recorded.path, recorded.status) == ("PATCH", CONN_PATH, 200)
    # coerced; None is never sent; no setup tests for a change they do not check
    assert recorded.json == {"paused": True, "sync_frequency": 60, "run_setup_tests": False}
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.headers["accept"] == "application/json;version=2"
    assert hook.get_connection_details(CONN)["sync_frequency"] == 60


def test_connection_id_is_quoted_into_one_path_segment(sim: FivetranSimulator) -> None:
    hook = make_hook()
    sent_paths: list[str] = []
    hook.get_conn().hooks["response"].append(
        lambda response, *args, **kwargs: sent_paths.append(response.request.path_url)
    )
    with pytest.raises(FivetranAPIError) as caught:
        hook.get_connection_details("a?x#y%z")
    assert sent_paths == ["/v1/connections/a%3Fx%23y%25z"]
    assert caught.value.status_code == 404
    assert settle(sim, "GET", CONN_PATH, 0) == 0


@pytest.mark.parametrize("bad_id", ["", " ", "conn a", " conn_a", "conn_a\n", None, 42])
def test_invalid_connection_id_sends_nothing(sim: FivetranSimulator, bad_id: Any) -> None:
    hook = make_hook()
    with pytest.raises(FivetranValidationError) as caught:
        hook.get_connection_details(bad_id)
    assert caught.value.field == "connection_id"
    with pytest.raises(FivetranValidationError):
        hook.update_connection(bad_id, paused=True)
    assert sim.request_count() == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"sync_frequency": 7},
        {"sync_frequencyy": 60},
        {"paused": "maybe"},
        {"run_setup_tests": True},  # not persistent on its own
        {},
    ],
)
def test_invalid_payload_raises_before_any_request(sim: FivetranSimulator, fields: dict[str, Any]) -> None:
    with pytest.raises(FivetranValidationError):
        make_hook().update_connection(CONN, **fields)
    assert sim.request_count() == 0


def test_list_connections_follows_next_cursor(sim: FivetranSimulator) -> None:
    for number in range(1004):
        sim.add_connection(f"bulk_{number:04d}", group_id="bulk_group")
    hook = make_hook()
    everything = hook.list_connections(group_id="bulk_group")
    assert len(everything) == 1004
    assert len({item["id"] for item in everything}) == 1004
    pages = [r for r in logged(sim, 2) if r.path == "/v1/connections"]
    assert len(pages) == 2
    assert pages[0].query == {"group_id": "bulk_group", "limit": "1000"}
    assert pages[1].query["cursor"]
    sim.clear_requests()
    assert len(hook.list_connections(limit=3)) == 3
    assert settle(sim, "GET", "/v1/connections", 1) == 1
    assert logged(sim, 1)[0].query == {"limit": "3"}


def test_list_connections_redacts_items(sim: FivetranSimulator) -> None:
    (item,) = make_hook().list_connections()
    assert item["config"]["password"] == SECRET_MASK


def test_sync_connection(sim: FivetranSimulator) -> None:
    answer = make_hook().sync_connection(CONN, force=True)
    assert answer["code"] == "Success"
    (recorded,) = logged(sim, 1)
    assert (recorded.method, recorded.path, recorded.json) == ("POST", f"{CONN_PATH}/sync", {"force": True})


# -- redaction ----------------------------------------------------------------------------------


def test_returned_data_is_redacted_even_if_the_api_leaks_a_secret(sim: FivetranSimulator) -> None:
    leaked = {
        "code": "Success",
        "data": {"id": CONN, "paused": False, "config": {"host": "db", "password": "leaked-pw"}},
    }
    sim.fail_next(1, status=200, body=leaked, method="GET")
    hook = make_hook()
    data = hook.get_connection_details(CONN)
    assert data["config"] == {"host": "db", "password": SECRET_MASK}
    assert "leaked-pw" not in json.dumps(data)
    sim.fail_next(1, status=200, body=leaked, method="PATCH")
    data = hook.update_connection(CONN, paused=False)
    assert data["config"]["password"] == SECRET_MASK


def test_patch_with_secret_config_leaks_it_nowhere(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = make_hook(max_retries=1)
    data = hook.update_connection(CONN, config={"host": "db2", "password": CONFIG_SECRET})
    assert logged(sim, 1)[-1].json == {"config": {"host": "db2", "password": CONFIG_SECRET}}  # it was sent
    assert data["config"]["password"] == SECRET_MASK
    errors: list[str] = []
    for count, fault in ((2, {"status": 503}), (1, {"status": 400}), (2, {"drop": True})):
        sim.fail_next(count, **fault)
        with pytest.raises(FivetranAPIError) as caught:
            hook.update_connection(CONN, config={"password": CONFIG_SECRET})
        errors.append(str(caught.value))
    captured = capsys.readouterr()
    seen = "\n".join([caplog.text, captured.out, captured.err, json.dumps(data), *errors])
    assert "Retrying Fivetran API request" in seen  # the failures did log
    assert CONFIG_SECRET not in seen
    assert API_SECRET not in seen


# -- test_connection ----------------------------------------------------------------------------


def test_test_connection_success(sim: FivetranSimulator) -> None:
    ok, message = make_hook().test_connection()
    assert ok
    assert "Connected to Fivetran account" in message
    assert settle(sim, "GET", "/v1/account/info", 1) == 1


def test_test_connection_wrong_secret(sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-secret-93b1"
    monkeypatch.setenv(
        ENV, json.dumps({"conn_type": "fivetran", "login": API_KEY, "password": wrong, "host": sim.url})
    )
    ok, message = make_hook().test_connection()
    assert not ok
    assert "401" in message
    assert "AuthFailed" in message
    assert "API key" in message  # the hint
    assert wrong not in message
    assert API_SECRET not in message
    assert settle(sim, "GET", "/v1/account/info", 1) == 1  # no retries behind the UI's button


def test_test_connection_never_raises_when_nobody_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    with FivetranSimulator(api_key=API_KEY, api_secret=API_SECRET) as stopped:
        url = stopped.url
    monkeypatch.setenv(
        ENV, json.dumps({"conn_type": "fivetran", "login": API_KEY, "password": API_SECRET, "host": url})
    )
    ok, message = make_hook(connect_timeout=1.0).test_connection()
    assert not ok
    assert "did not answer" in message
    assert API_SECRET not in message


# -- faults: exact request counts ----------------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_429_waits_retry_after_then_succeeds(
    sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    hook = make_hook(retry_min_wait=0.01, retry_max_wait=5.0)
    sim.fail_next(1, status=429, headers={"Retry-After": "1"})
    if asynchronous:
        hook.clock = clock = ManualClock()
        sleeps = clock.sleeps
        assert asyncio.run(clock.drive(hook.aget_connection_details(CONN)))["id"] == CONN
    else:
        sleeps = record_sleeps(monkeypatch, api_module)
        assert hook.get_connection_details(CONN)["id"] == CONN
    assert settle(sim, "GET", CONN_PATH, 2) == 2
    assert [r.status for r in logged(sim, 2)] == [429, 200]
    assert sleeps == [1.0]  # the Retry-After, not the backoff, and nothing more


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_retry_after_longer_than_retry_max_wait_fails_at_once_naming_the_wait(
    sim: FivetranSimulator, asynchronous: bool
) -> None:
    sim.fail_next(3, status=429, headers={"Retry-After": "30"})
    hook = make_hook(retry_max_wait=0.2)
    with pytest.raises(FivetranRateLimitError) as caught:
        if asynchronous:
            run_async(hook, lambda: hook.aget_connection_details(CONN))
        else:
            hook.get_connection_details(CONN)
    assert caught.value.retry_after == 30.0
    assert caught.value.status_code == 429
    assert "Fivetran asked to wait 30 s before the next request (Retry-After)" in str(caught.value)
    assert "retry_max_wait (0.2 s)" in str(caught.value)
    assert settle(sim, "GET", CONN_PATH, 1) == 1  # no blind retry into a certain 429


@pytest.mark.parametrize("retry_after", ["0", "-1", "soon", ""], ids=["zero", "negative", "garbage", "empty"])
def test_a_useless_retry_after_gets_the_normal_backoff_not_a_burst(
    sim: FivetranSimulator, retry_after: str
) -> None:
    sim.fail_next(2, status=429, headers={"Retry-After": retry_after})
    assert make_hook(retry_min_wait=0.2, retry_max_wait=1.0).get_connection_details(CONN)["id"] == CONN
    requests = logged(sim, 3)
    assert [r.status for r in requests] == [429, 429, 200]
    # Exponential backoff from retry_min_wait: 0.2 s, then 0.4 s (sleeps never end early).
    assert requests[1].time - requests[0].time >= 0.2
    assert requests[2].time - requests[1].time >= 0.4


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_retries_stop_before_a_backoff_would_pass_the_deadline(
    sim: FivetranSimulator, asynchronous: bool
) -> None:
    sim.fail_next(10, status=503)
    hook = make_hook(max_retries=10, retry_min_wait=0.4, retry_max_wait=5.0)
    with pytest.raises(FivetranRetryLaterError) as caught:
        if asynchronous:
            hook.clock = clock = ManualClock()
            deadline = clock() + 1.0
            asyncio.run(clock.drive(hook.aget_connection_details(CONN, deadline=deadline)))
        else:
            hook.get_connection_details(CONN, deadline=time.time() + 1.0)
    # 0 s: 503, wait 0.4-0.5 s: 503; the next backoff (0.8-1 s) would end after the deadline.
    assert settle(sim, "GET", CONN_PATH, 2) == 2
    assert caught.value.status_code == 503
    assert "after the deadline" in str(caught.value)
    assert caught.value.retry_after >= 0.8
    if asynchronous:
        [backoff] = clock.sleeps
        assert 0.4 <= backoff <= 0.5
        assert clock() == pytest.approx(deadline - 1.0 + backoff)  # the refusal came at once


def test_retry_after_past_the_deadline_fails_at_once(sim: FivetranSimulator) -> None:
    sim.fail_next(3, status=429, headers={"Retry-After": "4"})
    with pytest.raises(FivetranRateLimitError) as caught:
        make_hook(retry_max_wait=60.0).get_connection_details(CONN, deadline=time.time() + 3)
    assert caught.value.retry_after == 4.0
    assert "Fivetran asked to wait 4 s" in str(caught.value)
    assert "left before the deadline" in str(caught.value)
    assert settle(sim, "GET", CONN_PATH, 1) == 1


def test_a_retry_gets_only_the_time_left_as_its_timeout(
    sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt has the full request timeout; a retry never outlives the deadline."""
    import requests

    sim.fail_next(1, status=503)
    sim.fail_next(1, delay=5.0)
    hook = make_hook(timeout=5.0, max_retries=3, retry_min_wait=0.2, retry_max_wait=0.2)
    timeouts: list[tuple[float, float]] = []
    send = requests.Session.request

    def recording(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        timeouts.append(kwargs["timeout"])
        return send(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording)
    with pytest.raises(FivetranAPIError) as caught:
        hook.get_connection_details(CONN, deadline=time.time() + 1.5)
    assert caught.value.status_code is None  # the second attempt timed out: no answer
    assert settle(sim, "GET", CONN_PATH, 2) == 2
    [first, retry] = timeouts
    assert first == (5.0, 5.0)  # connect, read: the hook's own
    # The retry started 0.2 s (a sleep never ends early) or more after the 1.5 s deadline was set.
    assert 0 < retry[0] <= 1.3
    assert 0 < retry[1] <= 1.3


def test_503_twice_then_success(sim: FivetranSimulator) -> None:
    sim.fail_next(2, status=503)
    assert make_hook().get_connection_details(CONN)["id"] == CONN
    assert settle(sim, "GET", CONN_PATH, 3) == 3


@pytest.mark.parametrize("max_retries", [0, 2])
def test_500_until_retries_run_out(sim: FivetranSimulator, max_retries: int) -> None:
    sim.fail_next(max_retries + 1, status=500)
    with pytest.raises(FivetranAPIError) as caught:
        make_hook(max_retries=max_retries).update_connection(CONN, paused=True)
    assert isinstance(caught.value, RetryableAPIError)
    assert caught.value.status_code == 500
    assert "InternalServerError" in str(caught.value)
    assert settle(sim, "PATCH", CONN_PATH, max_retries + 1) == max_retries + 1
    assert sim.connection(CONN)["paused"] is False


def test_dropped_connection_is_retried(sim: FivetranSimulator) -> None:
    sim.fail_next(2, drop=True)
    assert make_hook().get_connection_details(CONN)["id"] == CONN
    assert settle(sim, "GET", CONN_PATH, 3) == 3


def test_dropped_connections_exhaust_retries_into_an_api_error(sim: FivetranSimulator) -> None:
    sim.fail_next(3, drop=True)
    with pytest.raises(FivetranAPIError) as caught:
        make_hook(max_retries=2).get_connection_details(CONN)
    assert caught.value.status_code is None
    assert "did not answer" in str(caught.value)
    assert "ConnectionError" in str(caught.value)
    assert settle(sim, "GET", CONN_PATH, 3) == 3


def test_read_timeout_is_retried(sim: FivetranSimulator) -> None:
    sim.fail_next(1, delay=1.5)
    assert make_hook(timeout=0.3).get_connection_details(CONN)["id"] == CONN
    # Two GETs: the first was given up before its answer, due 1.5 s later, came.
    assert settle(sim, "GET", CONN_PATH, 2) == 2


def test_malformed_200_is_a_clear_error_and_not_retried(sim: FivetranSimulator) -> None:
    sim.fail_next(1, malformed=True)
    with pytest.raises(FivetranAPIError) as caught:
        make_hook().get_connection_details(CONN)
    error = caught.value
    assert not isinstance(error, RetryableAPIError)
    assert error.status_code == 200
    assert "not a Fivetran API response" in str(error)
    assert "body starts:" in str(error)
    assert settle(sim, "GET", CONN_PATH, 1) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_fail_at_once_with_fivetran_words(sim: FivetranSimulator, status: int) -> None:
    sim.fail_next(1, status=status, body={"code": f"Code_{status}", "message": f"Fivetran says {status}"})
    with pytest.raises(FivetranAPIError) as caught:
        make_hook().update_connection(CONN, paused=True)
    text = str(caught.value)
    assert f"answered {status} Code_{status} for connection '{CONN}': Fivetran says {status}" in text
    assert caught.value.request_id == logged(sim, 1)[-1].request_id
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1


def test_real_404_names_the_connection_and_the_hint(sim: FivetranSimulator) -> None:
    with pytest.raises(FivetranAPIError) as caught:
        make_hook().get_connection_details("missing_conn")
    assert caught.value.status_code == 404
    assert "for connection 'missing_conn'" in str(caught.value)
    assert "Fivetran connection id" in str(caught.value)
    assert settle(sim, None, None, 1) == 1


def test_an_hourly_rate_limit_fails_at_once_naming_the_wait(sim: FivetranSimulator) -> None:
    sim.rate_limit(1, per_seconds=3600)
    hook = make_hook(max_retries=2, retry_max_wait=60.0)
    hook.get_connection_details(CONN)
    with pytest.raises(FivetranRateLimitError) as caught:
        hook.get_connection_details(CONN)
    assert caught.value.status_code == 429
    assert caught.value.retry_after > 3000  # what the simulator's hourly window asks for
    assert f"Fivetran asked to wait {caught.value.retry_after:g} s" in str(caught.value)
    assert settle(sim, "GET", CONN_PATH, 2) == 2  # 1 allowed + 1 limited, no retries into it


# -- connection reuse ----------------------------------------------------------------------------


def test_sequential_calls_reuse_one_tcp_connection(sim: FivetranSimulator) -> None:
    hook = make_hook()
    for _ in range(10):
        hook.get_connection_details(CONN)
    session = hook.get_conn()
    pools = session.get_adapter(sim.url).poolmanager.pools
    (key,) = pools.keys()
    assert pools[key].num_connections == 1  # urllib3 counts every new TCP connection it opens
    assert pools[key].num_requests == 10
    assert hook.get_conn() is session
    hook.close()


# -- async twins ---------------------------------------------------------------------------------


def test_async_get_and_update_match_the_sync_path(sim: FivetranSimulator) -> None:
    hook = make_hook()
    sync_view = hook.get_connection_details(CONN)
    async_view = run_async(hook, lambda: hook.aget_connection_details(CONN))
    assert async_view == sync_view
    updated = run_async(hook, lambda: hook.aupdate_connection(CONN, paused="true", sync_frequency=60))
    assert updated["paused"] is True
    recorded = logged(sim, 3)[-1]
    assert (recorded.method, recorded.json) == (
        "PATCH",
        {"paused": True, "sync_frequency": 60, "run_setup_tests": False},
    )
    assert recorded.headers["accept"] == "application/json;version=2"
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.headers["user-agent"].startswith(f"airflow-provider-fivetran-update/{__version__}")
    assert updated["config"]["password"] == SECRET_MASK
    listed = run_async(hook, lambda: hook.alist_connections(limit=5))
    assert [item["id"] for item in listed] == [CONN]


def test_async_429_retry_with_count(sim: FivetranSimulator) -> None:
    sim.fail_next(2, status=429, headers={"Retry-After": "0"})
    hook = make_hook()
    assert run_async(hook, lambda: hook.aget_connection_details(CONN))["id"] == CONN
    assert settle(sim, "GET", CONN_PATH, 3) == 3


def test_async_errors_read_exactly_like_sync_ones(sim: FivetranSimulator) -> None:
    hook = make_hook()
    with pytest.raises(FivetranAPIError) as sync_caught:
        hook.get_connection_details("missing_conn")
    with pytest.raises(FivetranAPIError) as async_caught:
        run_async(hook, lambda: hook.aget_connection_details("missing_conn"))
    sync_error, async_error = sync_caught.value, async_caught.value
    assert sync_error.request_id and async_error.request_id
    assert str(sync_error).replace(sync_error.request_id, "ID") == str(async_error).replace(
        async_error.request_id, "ID"
    )
    assert settle(sim, None, None, 2) == 2
    sim.fail_next(1, status=400)
    with pytest.raises(FivetranAPIError):
        run_async(hook, lambda: hook.aupdate_connection(CONN, paused=True))
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1


def test_async_timeout_is_retried(sim: FivetranSimulator) -> None:
    sim.fail_next(1, delay=1.5)
    hook = make_hook(timeout=0.3)
    assert run_async(hook, lambda: hook.aget_connection_details(CONN))["id"] == CONN
    # Two GETs: the first was given up before its answer, due 1.5 s later, came.
    assert settle(sim, "GET", CONN_PATH, 2) == 2


def test_async_exhaustion_and_invalid_payload(sim: FivetranSimulator) -> None:
    hook = make_hook(max_retries=1)
    sim.fail_next(2, status=502)
    with pytest.raises(RetryableAPIError) as caught:
        run_async(hook, lambda: hook.aget_connection_details(CONN))
    assert caught.value.status_code == 502
    assert settle(sim, "GET", CONN_PATH, 2) == 2
    with pytest.raises(FivetranValidationError):
        run_async(hook, lambda: hook.aupdate_connection(CONN, sync_frequency=7))
    assert settle(sim, "PATCH", CONN_PATH, 0) == 0


def test_one_hook_survives_several_event_loops(sim: FivetranSimulator) -> None:
    """Triggers may reuse a hook from another loop: the client is made again for each loop."""
    hook = make_hook()
    for _ in range(3):
        assert asyncio.run(hook.aget_connection_details(CONN))["id"] == CONN  # no aclose in between
    run_async(hook, lambda: hook.aget_connection_details(CONN))
    assert settle(sim, "GET", CONN_PATH, 4) == 4


def test_async_calls_on_one_loop_share_a_client(sim: FivetranSimulator) -> None:
    hook = make_hook()

    async def many() -> list[dict[str, Any]]:
        first = await hook.aget_connection_details(CONN)
        client = hook._async_client
        rest = await asyncio.gather(*(hook.aget_connection_details(CONN) for _ in range(5)))
        assert hook._async_client is client
        return [first, *rest]

    assert len(run_async(hook, many)) == 6
    assert settle(sim, "GET", CONN_PATH, 6) == 6


# -- a PATCH that starts a historical sync is never sent twice by accident ------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"drop": True}, id="connection-dropped"),
        pytest.param({"status": 500}, id="500"),
        pytest.param({"status": 502}, id="502"),
        pytest.param({"delay": 1.5}, id="read-timeout"),
    ],
)
def test_historical_sync_patch_is_not_repeated_when_it_may_have_been_applied(
    sim: FivetranSimulator, fault: dict[str, Any]
) -> None:
    sim.fail_next(1, method="PATCH", **fault)
    with pytest.raises(FivetranAPIError) as caught:
        make_hook(timeout=0.5).update_connection(CONN, is_historical_sync=True)
    assert not isinstance(caught.value, RetryableAPIError)
    assert "not sent again" in str(caught.value)
    assert "status.is_historical_sync" in str(caught.value)
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 429, "headers": {"Retry-After": "0"}}, id="429"),
        pytest.param({"status": 503}, id="503"),
    ],
)
def test_historical_sync_patch_is_retried_when_fivetran_turned_it_away(
    sim: FivetranSimulator, fault: dict[str, Any]
) -> None:
    sim.fail_next(1, method="PATCH", **fault)
    updated = make_hook().update_connection(CONN, is_historical_sync=True)
    assert updated["status"]["is_historical_sync"] is True
    assert settle(sim, "PATCH", CONN_PATH, 2) == 2


def test_other_patches_are_retried_after_a_dropped_connection(sim: FivetranSimulator) -> None:
    sim.fail_next(1, method="PATCH", drop=True)
    assert make_hook().update_connection(CONN, paused=True)["paused"] is True
    assert settle(sim, "PATCH", CONN_PATH, 2) == 2


def test_async_historical_sync_patch_is_not_repeated(sim: FivetranSimulator) -> None:
    sim.fail_next(1, method="PATCH", status=504)
    hook = make_hook()
    with pytest.raises(FivetranAPIError) as caught:
        run_async(hook, lambda: hook.aupdate_connection(CONN, is_historical_sync=True))
    assert "not sent again" in str(caught.value)
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1


def test_refused_connection_is_retried_even_for_a_historical_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    with FivetranSimulator(api_key=API_KEY, api_secret=API_SECRET) as stopped:
        url = stopped.url
    monkeypatch.setenv(
        ENV, json.dumps({"conn_type": "fivetran", "login": API_KEY, "password": API_SECRET, "host": url})
    )
    with pytest.raises(RetryableAPIError) as caught:
        make_hook(max_retries=2, connect_timeout=1.0).update_connection(CONN, is_historical_sync=True)
    assert caught.value.maybe_applied is False
    assert caught.value.status_code is None


def test_concurrent_first_async_calls_share_one_client(
    sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    opened: list[httpx.AsyncClient] = []
    original_init = httpx.AsyncClient.__init__

    def counting_init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", counting_init)
    hook = make_hook()

    async def both() -> list[str]:
        answers = await asyncio.gather(hook.aget_connection_details(CONN), hook.aget_connection_details(CONN))
        await hook.aclose()
        return [answer["id"] for answer in answers]

    assert asyncio.run(both()) == [CONN, CONN]
    assert len(opened) == 1  # one client for both calls, so none was left open
    assert opened[0].is_closed
