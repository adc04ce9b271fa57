"""The transport-neutral client pieces: request building, response reading, the retry policy.

No network here: these are the pure functions both the requests and the httpx path go through.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from airflow_provider_fivetran_update import __version__
from airflow_provider_fivetran_update import api as client_module
from airflow_provider_fivetran_update.api import (
    ACCEPT_HEADER,
    DEFAULT_BASE_URL,
    ApiRequest,
    RetryableAPIError,
    RetryPolicy,
    build_request,
    normalize_base_url,
    parse_response,
    parse_retry_after,
    transport_error,
)
from airflow_provider_fivetran_update.exceptions import (
    FivetranAPIError,
    FivetranRateLimitError,
    FivetranRetryLaterError,
)

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_fivetran_update"


def _request(connection_id: str | None = "conn_a") -> ApiRequest:
    return build_request(
        "https://api.fivetran.com", "GET", "/v1/connections/{connection_id}", connection_id=connection_id
    )


def _body(payload: object) -> bytes:
    return json.dumps(payload).encode()


# -- build_request -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://api.fivetran.com", "https://api.fivetran.com"),
        ("https://api.fivetran.com/", "https://api.fivetran.com"),
        ("api.fivetran.com", "https://api.fivetran.com"),
        ("api.fivetran.com/", "https://api.fivetran.com"),
        ("http://127.0.0.1:8089", "http://127.0.0.1:8089"),
        ("http://127.0.0.1:8089/", "http://127.0.0.1:8089"),
        ("  https://api.fivetran.com/v1/ ", "https://api.fivetran.com"),
        ("https://proxy.example.com/fivetran/", "https://proxy.example.com/fivetran"),
        ("", DEFAULT_BASE_URL),
        (None, DEFAULT_BASE_URL),
    ],
)
def test_base_url_normalization(host: str | None, expected: str) -> None:
    assert normalize_base_url(host) == expected


def test_base_url_takes_the_port_field_when_host_has_none() -> None:
    assert normalize_base_url("http://127.0.0.1", 8089) == "http://127.0.0.1:8089"
    assert normalize_base_url("http://127.0.0.1:9000", 8089) == "http://127.0.0.1:9000"


def test_build_request_quotes_the_connection_id_and_sets_headers() -> None:
    request = build_request(
        "http://127.0.0.1:8089/",
        "patch",
        "/v1/connections/{connection_id}",
        connection_id="a?b#c%d",
        json={"paused": True},
    )
    assert request.method == "PATCH"
    assert request.path == "/v1/connections/a%3Fb%23c%25d"
    assert request.url == "http://127.0.0.1:8089/v1/connections/a%3Fb%23c%25d"
    assert request.connection_id == "a?b#c%d"
    assert request.headers["Accept"] == ACCEPT_HEADER == "application/json;version=2"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith(f"airflow-provider-fivetran-update/{__version__}")
    assert "Authorization" not in request.headers
    assert request.json == {"paused": True}


def test_build_request_without_body_has_no_content_type_and_drops_none_params() -> None:
    request = build_request(
        "", "GET", "/v1/connections", params={"group_id": None, "limit": 10, "cursor": "c1"}
    )
    assert request.url == "https://api.fivetran.com/v1/connections"
    assert "Content-Type" not in request.headers
    assert request.params == {"limit": "10", "cursor": "c1"}


def test_build_request_refuses_a_templated_path_without_id() -> None:
    with pytest.raises(ValueError, match="connection_id"):
        build_request("", "GET", "/v1/connections/{connection_id}")


# -- parse_response ------------------------------------------------------------------------------


def test_success_returns_data() -> None:
    body = _body({"code": "Success", "data": {"id": "conn_a", "paused": False}})
    assert parse_response(_request(), 200, {}, body) == {"id": "conn_a", "paused": False}


def test_success_without_data_is_an_error_unless_allowed() -> None:
    body = _body({"code": "Success", "message": "Sync has been successfully triggered"})
    with pytest.raises(FivetranAPIError, match="'data' object") as caught:
        parse_response(_request(), 200, {}, body)
    assert not isinstance(caught.value, RetryableAPIError)
    assert parse_response(_request(), 200, {}, body, require_data=False)["code"] == "Success"


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b"", b"[1, 2]", b'{"code": "Success", "data": 3}'])
def test_malformed_success_names_status_and_body(body: bytes) -> None:
    with pytest.raises(FivetranAPIError) as caught:
        parse_response(_request(), 200, {}, body)
    error = caught.value
    assert error.status_code == 200
    assert not isinstance(error, RetryableAPIError)  # a 200 with garbage is not retried
    assert "200" in str(error)
    assert (body.decode()[:20] or "<empty body>") in str(error)


def test_malformed_body_excerpt_is_bounded() -> None:
    with pytest.raises(FivetranAPIError) as caught:
        parse_response(_request(), 200, {}, b"x" * 5000)
    assert "x" * 200 in str(caught.value)
    assert "x" * 201 not in str(caught.value)


def test_error_carries_fivetran_code_message_connection_and_request_id() -> None:
    body = _body({"code": "NotFound_Connection", "message": "Connection with id 'conn_a' doesn't exist"})
    with pytest.raises(FivetranAPIError) as caught:
        parse_response(_request(), 404, {"x-request-id": "req-42"}, body)
    error = caught.value
    assert (error.status_code, error.code, error.connection_id, error.request_id) == (
        404,
        "NotFound_Connection",
        "conn_a",
        "req-42",
    )
    text = str(error)
    assert text.startswith(
        "Fivetran API answered 404 NotFound_Connection for connection 'conn_a': "
        "Connection with id 'conn_a' doesn't exist (request id req-42)"
    )
    assert "Fivetran connection id" in text  # the hint
    assert not isinstance(error, RetryableAPIError)


@pytest.mark.parametrize(
    ("status", "hint_fragment"),
    [(401, "API key"), (403, "API secret"), (404, "connection id"), (429, "rate-limited"), (503, "Fivetran")],
)
def test_each_status_gets_a_hint(status: int, hint_fragment: str) -> None:
    with pytest.raises(FivetranAPIError) as caught:
        parse_response(_request(), status, {}, _body({"code": "X", "message": "m"}))
    assert hint_fragment in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    with pytest.raises(RetryableAPIError):
        parse_response(_request(), status, {}, _body({"code": "X", "message": "m"}))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_other_statuses_are_not_retryable(status: int) -> None:
    with pytest.raises(FivetranAPIError) as caught:
        parse_response(_request(), status, {}, _body({"code": "X", "message": "m"}))
    assert not isinstance(caught.value, RetryableAPIError)


def test_error_without_json_body_quotes_the_body() -> None:
    with pytest.raises(FivetranAPIError) as caught:
        parse_response(_request(), 502, {}, b"<html>Bad Gateway</html>")
    assert "502" in str(caught.value)
    assert "<html>Bad Gateway</html>" in str(caught.value)


def test_429_carries_retry_after_in_seconds_or_http_date() -> None:
    body = _body({"code": "TooManyRequests", "message": "slow down"})
    with pytest.raises(RetryableAPIError) as caught:
        parse_response(_request(), 429, {"Retry-After": "7"}, body)
    assert caught.value.retry_after == 7.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    with pytest.raises(RetryableAPIError) as caught:
        parse_response(_request(), 429, {"retry-after": when}, body)
    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 31


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("-5", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None


# -- transport errors ----------------------------------------------------------------------------


def test_transport_errors_of_requests_and_httpx() -> None:
    import httpx
    import requests

    request = _request()
    for exc in (
        requests.exceptions.ConnectionError("Connection reset by peer"),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ChunkedEncodingError("broken"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ):
        error = transport_error(request, exc)
        assert isinstance(error, RetryableAPIError), exc
        assert error.status_code is None
        assert type(exc).__name__ in str(error)
        assert "conn_a" in str(error)
    for exc in (requests.exceptions.SSLError("bad cert"), requests.exceptions.InvalidURL("nope")):
        error = transport_error(request, exc)
        assert isinstance(error, FivetranAPIError)
        assert not isinstance(error, RetryableAPIError)
    assert transport_error(request, KeyError("unrelated")) is None


# -- RetryPolicy ---------------------------------------------------------------------------------


def test_retry_policy_validates() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="max_wait"):
        RetryPolicy(min_wait=5, max_wait=1)


def test_wait_is_exponential_with_bounded_jitter_and_capped() -> None:
    policy = RetryPolicy(min_wait=1.0, max_wait=10.0, jitter=0.25)
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)):
        for _ in range(50):
            assert base <= policy.wait_seconds(attempt, None) <= min(10.0, base * 1.25)
    assert policy.wait_seconds(10, None) == 10.0


def test_wait_honours_a_positive_retry_after_and_backs_off_otherwise() -> None:
    policy = RetryPolicy(min_wait=0.5, max_wait=5.0, jitter=0.0)
    for retry_after, expected in ((3.0, 3.0), (3600.0, 3600.0), (0.0, 0.5), (None, 0.5)):
        error = RetryableAPIError(status_code=429, code=None, message="m", retry_after=retry_after)
        assert policy.wait_seconds(1, error) == expected


def _rate_limited(retry_after: float | None, status: int = 429) -> RetryableAPIError:
    return RetryableAPIError(
        status_code=status,
        code="TooManyRequests",
        message="Rate limit exceeded",
        connection_id="conn_a",
        method="GET",
        path="/v1/connections/conn_a",
        retry_after=retry_after,
    )


def test_plan_sleeps_a_retry_after_that_fits() -> None:
    policy = RetryPolicy(max_retries=3, min_wait=0.01, max_wait=5.0)
    assert policy.plan(1, _rate_limited(3.0)) == 3.0
    assert policy.plan(1, _rate_limited(3.0), deadline=1_000.0, now=990.0) == 3.0


@pytest.mark.parametrize(
    ("retry_after", "deadline", "limit"),
    [
        (3600.0, None, "longer than retry_max_wait (60 s)"),
        (4.0, 1_003.0, "longer than the 3.0 s left before the deadline"),
    ],
    ids=["past-retry_max_wait", "past-the-deadline"],
)
def test_plan_refuses_a_retry_after_that_does_not_fit(
    retry_after: float, deadline: float | None, limit: str
) -> None:
    policy = RetryPolicy(max_retries=5, min_wait=0.01, max_wait=60.0)
    error = policy.plan(1, _rate_limited(retry_after), deadline=deadline, now=1_000.0)
    assert isinstance(error, FivetranRateLimitError)
    assert error.retry_after == retry_after
    assert (error.status_code, error.code, error.connection_id) == (429, "TooManyRequests", "conn_a")
    text = str(error)
    assert f"Fivetran asked to wait {retry_after:g} s before the next request (Retry-After)" in text
    assert limit in text
    # Also with no retries left: the message still says what Fivetran asked for.
    assert isinstance(
        RetryPolicy(max_retries=0, max_wait=60.0).plan(1, _rate_limited(3600.0)), FivetranRateLimitError
    )


def test_plan_refuses_a_backoff_that_ends_after_the_deadline() -> None:
    policy = RetryPolicy(max_retries=5, min_wait=2.0, max_wait=60.0, jitter=0.0)
    error = policy.plan(1, _rate_limited(None, status=503), deadline=1_001.0, now=1_000.0)
    assert isinstance(error, FivetranRetryLaterError)
    assert not isinstance(error, FivetranRateLimitError)
    assert error.retry_after == 2.0
    assert "The next attempt would start in 2.0 s, after the deadline (1.0 s left)" in str(error)
    assert policy.plan(1, _rate_limited(None, status=503), deadline=1_003.0, now=1_000.0) == 2.0


def test_plan_gives_up_on_other_errors_and_when_retries_are_spent() -> None:
    policy = RetryPolicy(max_retries=2, min_wait=0.01, max_wait=1.0)
    assert policy.plan(3, _rate_limited(None, status=503)) is None
    assert policy.plan(1, FivetranAPIError(status_code=400, code="Bad", message="no")) is None
    assert policy.plan(1, ValueError("not an API error")) is None


@pytest.mark.parametrize("retry_after", [0.0, None], ids=["zero-or-negative", "absent-or-garbage"])
def test_a_useless_retry_after_backs_off_instead_of_bursting(
    retry_after: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    flaky = _Flaky(3, _rate_limited(retry_after))
    assert RetryPolicy(max_retries=3, min_wait=0.5, max_wait=5.0, jitter=0.0).call(flaky) == {"ok": "yes"}
    assert flaky.calls == 4
    assert slept == [0.5, 1.0, 2.0]


class _Flaky:
    """A send function that fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> dict[str, str]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return {"ok": "yes"}

    async def acall(self) -> dict[str, str]:
        return self()


def _retryable(status: int = 503) -> RetryableAPIError:
    return RetryableAPIError(status_code=status, code="ServiceUnavailable", message="busy", path="/v1/x")


def test_policy_retries_then_succeeds_and_logs_each_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    flaky = _Flaky(2, _retryable())
    assert RetryPolicy(max_retries=3, min_wait=0.0, max_wait=0.0).call(flaky) == {"ok": "yes"}
    assert flaky.calls == 3
    retries = [record for record in caplog.records if "Retrying Fivetran API request" in record.getMessage()]
    assert [record.levelno for record in retries] == [logging.WARNING] * 2
    assert "(retry 1 of 3)" in retries[0].getMessage()
    assert "(retry 2 of 3)" in retries[1].getMessage()
    assert "503 ServiceUnavailable" in retries[0].getMessage()


def test_policy_raises_the_last_api_error_not_retry_error() -> None:
    flaky = _Flaky(10, _retryable(500))
    with pytest.raises(RetryableAPIError) as caught:
        RetryPolicy(max_retries=2, min_wait=0.0, max_wait=0.0).call(flaky)
    assert flaky.calls == 3
    assert caught.value.status_code == 500
    assert type(caught.value).__name__ != "RetryError"


def test_policy_does_not_retry_other_errors() -> None:
    error = FivetranAPIError(status_code=400, code="InvalidInput", message="no")
    flaky = _Flaky(10, error)
    with pytest.raises(FivetranAPIError):
        RetryPolicy(max_retries=5, min_wait=0.0, max_wait=0.0).call(flaky)
    assert flaky.calls == 1


def test_zero_retries_sends_once() -> None:
    flaky = _Flaky(10, _retryable())
    with pytest.raises(RetryableAPIError):
        RetryPolicy(max_retries=0).call(flaky)
    assert flaky.calls == 1


def test_async_policy_is_the_same_policy() -> None:
    flaky = _Flaky(2, _retryable(429))
    policy = RetryPolicy(max_retries=3, min_wait=0.0, max_wait=0.0)
    assert asyncio.run(policy.acall(flaky.acall)) == {"ok": "yes"}
    assert flaky.calls == 3
    exhausted = _Flaky(10, _retryable(504))
    with pytest.raises(RetryableAPIError) as caught:
        asyncio.run(policy.acall(exhausted.acall))
    assert exhausted.calls == 4
    assert caught.value.status_code == 504


# -- import hygiene ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["client.py", "hooks/fivetran.py"])
def test_no_heavy_import_at_module_level(module: str) -> None:
    """DAG files import these on every parse: requests, httpx and tenacity load on first request."""
    tree = ast.parse((PACKAGE / module).read_text())
    top_level: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert not top_level & {"requests", "httpx", "tenacity", "urllib3"}
