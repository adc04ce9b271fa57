"""Fivetran's REST API without a transport: requests, answers, errors and retries.

One place builds a request (:func:`build_request`), one place turns an answer into data or a
:class:`~airflow_provider_fivetran_update.exceptions.FivetranAPIError` (:func:`parse_response`),
one place maps a transport failure to an error (:func:`transport_error`), and one
:class:`RetryPolicy` decides every retry of both paths (:meth:`RetryPolicy.call` and
:meth:`RetryPolicy.acall` only differ in how they sleep).
The hook sends with ``requests`` on workers and with ``httpx`` in triggers; both paths share
these pieces.

``requests`` and ``httpx`` are imported inside functions only: DAG files import
this module on every parse.
"""

from __future__ import annotations

import base64
import html
import json as jsonlib
import logging
import platform
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, urlsplit

from airflow_provider_fivetran_update import __version__
from airflow_provider_fivetran_update.clock import SYSTEM_CLOCK, Clock
from airflow_provider_fivetran_update.exceptions import (
    FivetranAPIError,
    FivetranRateLimitError,
    FivetranRetryLaterError,
)
from airflow_provider_fivetran_update.hooks.options import check_retry_settings
from airflow_provider_fivetran_update.ids import quote_connection_id
from airflow_provider_fivetran_update.redaction import secret_values

__all__ = [
    "ACCEPT_HEADER",
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUSES",
    "ApiRequest",
    "RetryPolicy",
    "RetryableAPIError",
    "basic_auth_forms",
    "build_request",
    "copy_api_error",
    "normalize_base_url",
    "parse_response",
    "parse_retry_after",
    "scrub",
    "transport_error",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.fivetran.com"
ACCEPT_HEADER = "application/json;version=2"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers that say the request was turned away before Fivetran acted on it.
NOT_APPLIED_STATUSES = frozenset({429, 503})
# Fivetran's own header first; the others are what proxies and gateways in front of it send.
REQUEST_ID_HEADERS = ("x-request-id", "x-fivetran-request-id", "request-id", "x-amzn-requestid")
BODY_EXCERPT_CHARS = 200
SCRUBBED = "***"
"""What a secret found in a text built from an answer is replaced with (Airflow's own mask)."""
# Shorter values are not credentials anyone relies on, and replacing every occurrence of them
# would garble the message around them.
MIN_SCRUBBED_CHARS = 4

_T = TypeVar("_T")
_E = TypeVar("_E", bound=FivetranAPIError)


class RetryableAPIError(FivetranAPIError):
    """A failure worth retrying: 429, 500, 502, 503, 504, or no answer at all (reset, timeout).

    :param retry_after: seconds the server asked us to wait (``Retry-After``), if it said so.
    :param maybe_applied: whether Fivetran may have carried the request out although it failed
        (500, 502, 504, a read timeout, a connection dropped after the request was sent). A 429,
        a 503 and a refused or timed-out connection attempt mean it was not.
    """

    def __init__(
        self, *, retry_after: float | None = None, maybe_applied: bool = True, **kwargs: Any
    ) -> None:
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        super().__init__(**kwargs)


@dataclass(frozen=True)
class ApiRequest:
    """One Fivetran API request, built once and sent by ``requests`` (sync) or ``httpx`` (async).

    Credentials are not sent from here: the transport adds basic auth. ``secrets`` lists every
    secret value the request carries (API key and secret, their basic-auth forms, the secrets of
    the body), only so that :func:`parse_response` and :func:`transport_error` can take them out
    of what they build from an answer; it is left out of ``repr`` and comparisons.
    """

    method: str
    url: str
    path: str
    headers: Mapping[str, str]
    json: Any | None = None
    params: Mapping[str, str] | None = None
    connection_id: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)


@cache
def user_agent() -> str:
    """``airflow-provider-fivetran-update/<version> python/<x.y.z> airflow/<version>``."""
    agent = f"airflow-provider-fivetran-update/{__version__} python/{platform.python_version()}"
    try:
        from importlib.metadata import version

        agent += f" airflow/{version('apache-airflow-core')}"
    except Exception:  # the version is a courtesy; never fail a request for it
        pass
    return agent


def normalize_base_url(host: str | None, port: int | None = None) -> str:
    """Turn the Airflow connection's host (and port) into a base URL without a trailing slash.

    Accepts ``https://api.fivetran.com``, ``api.fivetran.com``, ``http://127.0.0.1:8089/`` and
    empty (the default). A host without a scheme gets ``https://``. A trailing ``/v1`` is
    dropped, since every path this client sends starts with it.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    host = host.rstrip("/")
    if host.endswith("/v1"):
        host = host[: -len("/v1")]
    if port:
        parts = urlsplit(host)
        if parts.port is None:
            host = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
    return host


def basic_auth_forms(api_key: str, api_secret: str) -> tuple[str, ...]:
    """The ``Authorization`` header forms of a key and secret: base64 and ``Basic <base64>``.

    ``requests`` encodes the pair as Latin-1 and ``httpx`` as UTF-8; both forms are listed when
    they differ (non-ASCII characters).
    """
    forms: list[str] = []
    for encoding in ("latin-1", "utf-8"):
        try:
            raw = f"{api_key}:{api_secret}".encode(encoding)
        except UnicodeEncodeError:
            continue
        token = base64.b64encode(raw).decode("ascii")
        for form in (f"Basic {token}", token):
            if form not in forms:
                forms.append(form)
    return tuple(forms)


def _variants(secret: str) -> Iterable[str]:
    """The ways a secret may be written in an echoed body: as is, JSON-, URL-, HTML-, repr-escaped.

    HTML escaping is also applied to the JSON forms: a proxy's error page that echoes the request
    body shows the JSON text the client sent.
    """
    for text in {secret, jsonlib.dumps(secret)[1:-1], jsonlib.dumps(secret, ensure_ascii=False)[1:-1]}:
        yield text
        yield html.escape(text)
        yield html.escape(text, quote=False)
        # As Python's repr shows it inside an exception text (bytes quoted by a client library).
        yield text.encode("unicode_escape").decode("ascii")
    yield quote(secret, safe="")
    yield quote_plus(secret, safe="")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text`` (also JSON-, URL- or HTML-escaped) by :data:`SCRUBBED`.

    Longer secrets go first, so a secret that contains another is replaced whole. Values shorter
    than :data:`MIN_SCRUBBED_CHARS` are left alone.
    """
    for form in _scrubbed_forms(tuple(secrets)):
        if form in text:
            text = text.replace(form, SCRUBBED)
    return text


@lru_cache(maxsize=32)
def _scrubbed_forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Every form of ``secrets`` long enough to scrub, longest first (built once per secret set:
    a hook scrubs each answer with the same few secrets)."""
    forms = {variant for secret in secrets for variant in _variants(secret)}
    return tuple(sorted((form for form in forms if len(form) >= MIN_SCRUBBED_CHARS), key=len, reverse=True))


def _scrub_tree(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {key: _scrub_tree(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_tree(item, secrets) for item in value]
    return value


def _scrub_answer(data: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    """A successful answer's data with the request's secrets taken out of every string in it.

    Its texts (setup-test warnings, task messages) end up in log lines and trigger events. One
    search over the serialized answer first: the walk is only needed when a secret is there.
    """
    if not secrets:
        return data
    text = jsonlib.dumps(data, ensure_ascii=False, default=str)
    if scrub(text, secrets) == text:
        return data
    cleaned: dict[str, Any] = _scrub_tree(data, secrets)
    return cleaned


def build_request(
    base_url: str,
    method: str,
    path: str,
    *,
    connection_id: str | None = None,
    json: Any | None = None,
    params: Mapping[str, Any] | None = None,
    auth: tuple[str, str] | None = None,
) -> ApiRequest:
    """Build a request to ``path`` on the Fivetran API.

    ``path`` may contain ``{connection_id}``, which is replaced by the percent-encoded id after
    :func:`~airflow_provider_fivetran_update.ids.check_connection_id`, so an id can never reach
    another endpoint. ``auth`` (API key and secret) is not sent from here: it only tells the
    request which secrets to keep out of errors, along with the secrets of ``json``.
    """
    if "{connection_id}" in path:
        if connection_id is None:
            raise ValueError(f"path {path!r} needs a connection_id")
        path = path.replace("{connection_id}", quote_connection_id(connection_id))
    secrets: list[str] = []
    if auth is not None:
        secrets.extend(value for value in (*auth, *basic_auth_forms(*auth)) if value)
    if isinstance(json, Mapping):
        secrets.extend(secret_values(json))
    headers = {"Accept": ACCEPT_HEADER, "User-Agent": user_agent()}
    if json is not None:
        headers["Content-Type"] = "application/json"
    query = None
    if params:
        query = {key: _query_value(value) for key, value in params.items() if value is not None}
    return ApiRequest(
        method=method.upper(),
        url=normalize_base_url(base_url) + path,
        path=path,
        headers=headers,
        json=json,
        params=query or None,
        connection_id=connection_id,
        secrets=tuple(dict.fromkeys(secrets)),
    )


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # requests' and httpx's headers are case-insensitive, a plain dict is not.
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; else ``None``."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _hint(status: int | None, connection_id: str | None) -> str | None:
    if status in (401, 403):
        return (
            "Check the API key (Login) and API secret (Password) of the Airflow connection, "
            "and that the key may access this resource"
        )
    if status == 404:
        if connection_id is not None:
            return (
                "Check the connection id: it must be a Fivetran connection id (the id shown in "
                "the Fivetran dashboard URL or by the List Connections API), not an Airflow "
                "connection id or a connection name"
            )
        return "Check the API base URL (Host) of the Airflow connection"
    if status == 429:
        return "Fivetran rate-limited the API key; retries wait for Retry-After"
    if status is None or status >= 500:
        return "This is on Fivetran's side or the network's; retry later or check status.fivetran.com"
    return None


def _excerpt(body: bytes, secrets: Iterable[str]) -> str:
    # Scrubbed before it is cut, so a secret cut in two cannot leave its first half behind.
    text = scrub(body.decode("utf-8", errors="replace"), secrets).strip()
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "..."
    return text or "<empty body>"


def parse_response(
    request: ApiRequest,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    require_data: bool = True,
) -> dict[str, Any]:
    """Return the ``data`` object of a Fivetran answer, or raise :class:`FivetranAPIError`.

    Every text taken from the answer (the error's message, code and request id, the start of a body
    that is not a Fivetran answer, the strings of the returned data) has the request's secrets
    replaced (:func:`scrub`), so an answer that echoes the request cannot leak them.

    A 2xx answer must be JSON with a ``data`` object; one that is not is a (non-retryable)
    ``FivetranAPIError`` naming the status and the start of the body. With
    ``require_data=False`` (endpoints that answer ``{"code", "message"}`` alone), the body
    itself is returned when it has no ``data``. 429 and 500/502/503/504 raise
    :class:`RetryableAPIError`.
    """
    try:
        payload: Any = jsonlib.loads(body) if body else None
    except ValueError:
        payload = None
    request_id = next(
        (value for name in REQUEST_ID_HEADERS if (value := _header(headers, name)) is not None), None
    )
    if request_id is not None:
        request_id = scrub(request_id, request.secrets)
    common: dict[str, Any] = {
        "status_code": status,
        "connection_id": request.connection_id,
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
    }
    if 200 <= status < 300:
        if isinstance(payload, dict):
            data = payload.get("data")
            if isinstance(data, dict):
                return _scrub_answer(data, request.secrets)
            if not require_data and "data" not in payload:
                return _scrub_answer(payload, request.secrets)
        raise FivetranAPIError(
            code=None,
            message=f"the answer is not a Fivetran API response (expected JSON with a 'data' "
            f"object); body starts: {_excerpt(body, request.secrets)}",
            hint="Check the API base URL (Host) of the Airflow connection",
            **common,
        )
    code: str | None = None
    message: str | None = None
    if isinstance(payload, dict):
        code = payload.get("code") if isinstance(payload.get("code"), str) else None
        message = payload.get("message") if isinstance(payload.get("message"), str) else None
    if code is not None:
        code = scrub(code, request.secrets)
    if message is None:
        message = f"no Fivetran error message; body starts: {_excerpt(body, request.secrets)}"
    else:
        message = scrub(message, request.secrets)
    hint = _hint(status, request.connection_id)
    if status in RETRYABLE_STATUSES:
        retry_after = parse_retry_after(_header(headers, "Retry-After")) if status == 429 else None
        raise RetryableAPIError(
            code=code,
            message=message,
            hint=hint,
            retry_after=retry_after,
            maybe_applied=status not in NOT_APPLIED_STATUSES,
            **common,
        )
    raise FivetranAPIError(code=code, message=message, hint=hint, **common)


def transport_error(request: ApiRequest, exc: BaseException) -> FivetranAPIError | None:
    """Map a ``requests``/``httpx`` failure (no answer received) to an error, or ``None`` if unknown.

    Connection errors, resets and timeouts are retryable; TLS failures and bad URLs are not.
    """
    retryable: tuple[type[BaseException], ...] = ()
    fatal: tuple[type[BaseException], ...] = ()
    never_sent: tuple[type[BaseException], ...] = ()
    try:
        import requests

        retryable += (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        )
        fatal += (requests.exceptions.SSLError, requests.exceptions.RequestException)
        never_sent += (requests.exceptions.ConnectTimeout,)
    except ImportError:  # pragma: no cover - requests is a dependency
        pass
    try:
        import httpx

        retryable += (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
        fatal += (httpx.HTTPError,)
        never_sent += (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    except ImportError:  # pragma: no cover - httpx ships with Airflow
        pass
    if not isinstance(exc, retryable + fatal):
        return None
    detail = scrub(str(exc), request.secrets) or "no detail"
    common: dict[str, Any] = {
        "status_code": None,
        "code": None,
        "message": f"{type(exc).__name__}: {detail}",
        "connection_id": request.connection_id,
        "method": request.method,
        "path": request.path,
    }
    if isinstance(exc, retryable) and not _is_tls_error(exc):
        sent = not (isinstance(exc, never_sent) or _connection_refused(exc))
        return RetryableAPIError(hint=_hint(None, None), maybe_applied=sent, **common)
    return FivetranAPIError(hint="Check the API base URL (Host) of the Airflow connection", **common)


def _connection_refused(exc: BaseException) -> bool:
    """Whether the connection was never made (requests wraps urllib3's NewConnectionError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or type(current).__name__ == "NewConnectionError":
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            current = reason
            continue
        args = getattr(current, "args", ())
        nested = next((arg for arg in args if isinstance(arg, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return False


def _is_tls_error(exc: BaseException) -> bool:
    import ssl

    if isinstance(exc, ssl.SSLError):
        return True
    try:
        import requests

        if isinstance(exc, requests.exceptions.SSLError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc.__cause__ or exc.__context__, ssl.SSLError)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a failed request again, within a deadline.

    429, 500, 502, 503, 504 and transport failures are retried; every other error fails at once.
    A 429 waits its ``Retry-After`` (a positive number of seconds or an HTTP date); anything
    else, and a ``Retry-After`` of 0, a negative one or garbage, backs off exponentially from
    ``min_wait`` with ``jitter`` (a fraction of the wait added at random), capped at ``max_wait``.
    When retries run out, the last :class:`FivetranAPIError` is raised.

    Nothing sleeps past what the caller can give: a ``Retry-After`` longer than ``max_wait`` or
    than the time left before the call's deadline raises
    :class:`~airflow_provider_fivetran_update.exceptions.FivetranRateLimitError` at once (asking
    before then would only be rate-limited again), and a backoff that would end after the
    deadline raises :class:`~airflow_provider_fivetran_update.exceptions.FivetranRetryLaterError`.

    :param max_retries: attempts after the first (0 sends once).
    :param min_wait: the first backoff, in seconds.
    :param max_wait: the longest single wait, in seconds.
    :param jitter: random extra wait, as a fraction of the backoff (0.25 adds up to 25 %).
    """

    max_retries: int = 5
    min_wait: float = 1.0
    max_wait: float = 60.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        check_retry_settings(
            max_retries=self.max_retries, retry_min_wait=self.min_wait, retry_max_wait=self.max_wait
        )
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0, got {self.jitter!r}.")

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """The wait before attempt ``attempt + 1``, after ``error`` failed attempt ``attempt``.

        A positive ``Retry-After`` as Fivetran gave it (:meth:`plan` decides whether it fits);
        otherwise the exponential backoff.
        """
        retry_after = _positive_retry_after(error)
        if retry_after is not None:
            return retry_after
        backoff = min(self.max_wait, self.min_wait * 2.0 ** max(0, attempt - 1))
        return min(self.max_wait, backoff * (1 + random.uniform(0, self.jitter)))

    @staticmethod
    def is_retryable(error: BaseException, *, idempotent: bool = True) -> bool:
        """Whether ``error`` is worth another attempt.

        A request that must not run twice (``idempotent=False``: a PATCH that starts a historical
        sync, which Fivetran would restart) is retried only when Fivetran cannot have carried it
        out (429, 503, no connection made).
        """
        if not isinstance(error, RetryableAPIError):
            return False
        return idempotent or not error.maybe_applied

    def plan(
        self,
        attempt: int,
        error: BaseException,
        *,
        idempotent: bool = True,
        deadline: float | None = None,
        now: float | None = None,
    ) -> float | FivetranRetryLaterError | None:
        """What to do after ``error`` failed attempt ``attempt``.

        :return: the seconds to sleep before the next attempt; ``None`` to raise ``error`` as it
            is (not retryable, or retries spent); or the
            :class:`~airflow_provider_fivetran_update.exceptions.FivetranRetryLaterError` to
            raise because the wait does not fit ``max_wait`` or the ``deadline`` (epoch seconds).
        """
        if not isinstance(error, RetryableAPIError) or not self.is_retryable(error, idempotent=idempotent):
            return None
        left = None if deadline is None else deadline - (time.time() if now is None else now)
        retry_after = _positive_retry_after(error)
        if retry_after is not None and (
            retry_after > self.max_wait or (left is not None and retry_after >= left)
        ):
            limit = (
                f"retry_max_wait ({self.max_wait:g} s)"
                if retry_after > self.max_wait
                else f"the {max(0.0, left or 0.0):.1f} s left before the deadline"
            )
            return _not_retried(
                FivetranRateLimitError,
                error,
                retry_after,
                f"Fivetran asked to wait {retry_after:g} s before the next request (Retry-After), "
                f"longer than {limit}; the request was not sent again, since Fivetran would only "
                "answer 429 again. Wait for the rate limit to reset, or spread this API key's "
                "requests over more time",
            )
        if attempt > self.max_retries:
            return None
        wait = self.wait_seconds(attempt, error)
        if left is not None and wait >= left:
            return _not_retried(
                FivetranRetryLaterError,
                error,
                wait,
                f"The next attempt would start in {wait:.1f} s, after the deadline "
                f"({max(0.0, left):.1f} s left), so it was not sent. {error.hint or ''}".rstrip(),
            )
        return wait

    def _next_attempt(
        self,
        attempt: int,
        error: Exception,
        logger: logging.Logger | None,
        *,
        idempotent: bool,
        deadline: float | None,
        now: float | None = None,
    ) -> float:
        """The sleep before the next attempt, logged; or raise what :meth:`plan` says to raise."""
        step = self.plan(attempt, error, idempotent=idempotent, deadline=deadline, now=now)
        if step is None:
            raise error
        if isinstance(step, FivetranRetryLaterError):
            raise step from error
        (logger or log).warning(
            "Retrying Fivetran API request in %.2fs (retry %d of %d) after: %s",
            step,
            attempt,
            self.max_retries,
            error,
        )
        return step

    def call(
        self,
        send: Callable[[], _T],
        logger: logging.Logger | None = None,
        *,
        idempotent: bool = True,
        deadline: float | None = None,
    ) -> _T:
        """Run ``send`` (one attempt) under this policy, synchronously.

        :param deadline: epoch seconds after which no attempt starts and no wait ends.
        """
        attempt = 1
        while True:
            try:
                return send()
            except Exception as error:
                wait = self._next_attempt(attempt, error, logger, idempotent=idempotent, deadline=deadline)
            time.sleep(wait)
            attempt += 1

    async def acall(
        self,
        send: Callable[[], Awaitable[_T]],
        logger: logging.Logger | None = None,
        *,
        idempotent: bool = True,
        deadline: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> _T:
        """Run ``send`` (one attempt) under this policy, without blocking the event loop.

        :param clock: what ``deadline`` is measured against and what the waits sleep on.
        """
        attempt = 1
        while True:
            try:
                return await send()
            except Exception as error:
                wait = self._next_attempt(
                    attempt, error, logger, idempotent=idempotent, deadline=deadline, now=clock()
                )
            await clock.sleep(wait)
            attempt += 1


def _positive_retry_after(error: BaseException | None) -> float | None:
    """A ``Retry-After`` worth honouring: 0 (or a date in the past) would make a burst of retries."""
    retry_after = getattr(error, "retry_after", None) if isinstance(error, RetryableAPIError) else None
    return retry_after if retry_after is not None and retry_after > 0 else None


def copy_api_error(error: FivetranAPIError, kind: type[_E], *, hint: str | None, **extra: Any) -> _E:
    """``error`` as a ``kind`` with another hint: the same status, code, message and request."""
    return kind(
        status_code=error.status_code,
        code=error.code,
        message=error.message,
        connection_id=error.connection_id,
        request_id=error.request_id,
        method=error.method,
        path=error.path,
        hint=hint,
        **extra,
    )


def _not_retried(
    kind: type[FivetranRetryLaterError], error: FivetranAPIError, retry_after: float, hint: str
) -> FivetranRetryLaterError:
    return copy_api_error(error, kind, hint=hint, retry_after=retry_after)
