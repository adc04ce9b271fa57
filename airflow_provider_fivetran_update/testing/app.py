"""The simulator's ASGI application: the front every ``/v1`` request passes, and the dispatch.

The front reads the body once, gives the answer an ``X-Request-Id``, applies an armed fault,
checks Basic auth, the rate limit and the media types, hands the request to the API routes
(:mod:`.api_routes`) and records what was answered. ``/__admin`` requests go to the admin routes
(:mod:`.admin_routes`) without auth, faults or recording.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from airflow_provider_fivetran_update.testing.admin_routes import ADMIN_PREFIX, AdminRoutes
from airflow_provider_fivetran_update.testing.api_routes import ApiRoutes
from airflow_provider_fivetran_update.testing.asgi import (
    JSON_TYPE,
    Message,
    Receive,
    Scope,
    Send,
    encode_json,
    error_response,
    starlette_app,
    wait_unless_disconnected,
)
from airflow_provider_fivetran_update.testing.core import SimulatorCore
from airflow_provider_fivetran_update.testing.faults import (
    DEFAULT_ERROR_CODES,
    Fault,
    RecordedRequest,
)

__all__ = ["SimulatorApp"]

REDACTED = "<redacted>"
# A truncated success body: what a proxy cutting an answer short leaves behind.
MALFORMED_BODY = b'{"code": "Success", "message": "Operation performed.", "data": {"id": '
_DROP_GRACE_SECONDS = 1.0
# The request body, read once at the front and kept in the ASGI scope for the checks that need it.
BODY_SCOPE_KEY = "fivetran_simulator.body"
# What the API produces (Accept) and consumes (Content-Type); Fivetran's OpenAPI declares only JSON.
_ACCEPTABLE = frozenset({"*/*", "application/*", JSON_TYPE})
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})


class SimulatorApp:
    """The ASGI application of one simulator core.

    :param core: the state, faults, limits and log this app serves.
    """

    def __init__(self, core: SimulatorCore) -> None:
        self._core = core
        # Handed to BackgroundServer, which fills it (peer address -> transport) so that a drop
        # fault can close a connection without answering.
        self.transports: dict[Any, asyncio.BaseTransport] = {}
        self._api = starlette_app(ApiRoutes(core).routes())
        self._admin = starlette_app(AdminRoutes(core).routes())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            await self._admin(scope, receive, send)
        else:
            await self._serve_api(scope, receive, send)

    # -- the front: faults, auth, rate limit, recording ------------------------------------------

    async def _serve_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return  # the client left before sending its request body
        core = self._core
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        request_id = uuid.uuid4().hex
        arrived = core.state.now()
        extra_headers: dict[str, str] = {"X-Request-Id": request_id}
        recorded: list[RecordedRequest] = []
        fault = core.faults.take(method, path)

        def record(status: int | None) -> None:
            # Logged as the answer starts, before the client can see it, so that a test that has
            # its answer also finds the request in the log.
            if recorded:
                return
            item = RecordedRequest(
                method=method,
                path=path,
                query=dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)),
                headers={k: (REDACTED if k == "authorization" else v) for k, v in headers.items()},
                json=_try_json(body),
                status=status,
                time=arrived,
                request_id=request_id,
                fault=fault.describe() if fault is not None else None,
            )
            recorded.append(item)
            core.request_log.append(item)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
                added = [(name.lower().encode(), value.encode()) for name, value in extra_headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        scope[BODY_SCOPE_KEY] = body
        replay = _replay(body, receive)
        try:
            if fault is None:
                await self._answer(scope, replay, send_with_headers, headers, extra_headers)
            else:
                await self._fault(
                    fault, scope, receive, replay, send_with_headers, headers, extra_headers, record
                )
        finally:
            record(None)  # nothing was answered: a dropped connection, or the client hung up

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Mapping[str, str],
        extra_headers: dict[str, str],
    ) -> None:
        core = self._core
        now = core.state.now()
        if not self._authorized(headers):
            peek = core.rate_limiter.check(now, consume=False)
            extra_headers.update(
                {k: v for k, v in (peek.headers if peek else {}).items() if k != "Retry-After"}
            )
            response = error_response(
                401,
                "AuthFailed",
                "Authentication failed: missing or invalid API key and secret (Basic auth).",
            )
            await response(scope, receive, send)
            return
        decision = core.rate_limiter.check(now)
        if decision is not None:
            extra_headers.update(decision.headers)
            if not decision.allowed:
                limited = error_response(
                    429,
                    "TooManyRequests",
                    "Too many requests: the API rate limit is exceeded."
                    f" Retry after {decision.retry_after} seconds.",
                )
                await limited(scope, receive, send)
                return
        refused = _negotiate(scope["method"], headers, scope[BODY_SCOPE_KEY])
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self._api(scope, receive, send)

    async def _fault(
        self,
        fault: Fault,
        scope: Scope,
        raw_receive: Receive,
        receive: Receive,
        send: Send,
        headers: Mapping[str, str],
        extra_headers: dict[str, str],
        record: Callable[[int | None], None],
    ) -> None:
        applied: list[Message] = []
        if fault.after_apply:

            async def keep(message: Message) -> None:
                applied.append(message)

            await self._answer(scope, receive, keep, headers, extra_headers)
        if fault.delay and not await wait_unless_disconnected(raw_receive, fault.delay):
            return  # the client gave up (read timeout): nothing is answered
        if fault.drop:
            # Logged before the connection closes, as an answer is before it starts: a client that
            # sees the connection go also finds the request in the log.
            record(None)
            await self._drop(scope, raw_receive)
            return
        if fault.answers_normally:
            if not applied:
                await self._answer(scope, receive, send, headers, extra_headers)
            for message in applied:
                await send(message)
            return
        peek = self._core.rate_limiter.check(self._core.state.now(), consume=False)
        if peek is not None:
            extra_headers.update({k: v for k, v in peek.headers.items() if k != "Retry-After"})
        status = fault.status if fault.status is not None else 200
        response_headers = dict(fault.headers or {})
        if status == 429 and not any(name.lower() == "retry-after" for name in response_headers):
            response_headers["Retry-After"] = "1"
        content: bytes
        media_type = JSON_TYPE
        if fault.body is None:
            if fault.malformed:
                content = MALFORMED_BODY
            else:
                code = DEFAULT_ERROR_CODES.get(status, "Error")
                content = encode_json({"code": code, "message": f"Simulated fault: HTTP {status} ({code})."})
        elif isinstance(fault.body, bytes):
            content = fault.body
        elif isinstance(fault.body, str):
            content = fault.body.encode()
            media_type = JSON_TYPE if fault.malformed else "text/plain"
        else:
            content = encode_json(fault.body)
        response = Response(content, status_code=status, headers=response_headers, media_type=media_type)
        await response(scope, receive, send)

    async def _drop(self, scope: Scope, raw_receive: Receive) -> None:
        transport = self.transports.get(scope.get("client"))
        if transport is None:
            raise RuntimeError("The simulator cannot find this request's connection to drop it.")
        transport.close()
        # Return only once the server saw the connection go, so it does not answer 500 instead.
        await wait_unless_disconnected(raw_receive, _DROP_GRACE_SECONDS)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{self._core.api_key}:{self._core.api_secret}".encode()
        return hmac.compare_digest(decoded, expected)


def _try_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _negotiate(method: str, headers: Mapping[str, str], body: bytes) -> Response | None:
    """406 for an ``Accept`` the API cannot satisfy, 415 for a body that is not declared JSON.

    A missing ``Accept``, ``*/*`` and ``application/json`` with or without ``version=`` are all
    served; a request without a body (``POST /sync`` as most clients send it) needs no type.
    """
    accept = headers.get("accept", "").strip()
    if accept and not any(_media_type(item) in _ACCEPTABLE for item in accept.split(",")):
        return error_response(
            406,
            "NotAcceptable",
            f"Cannot produce a response matching Accept: {accept!r};"
            " send Accept: application/json;version=2.",
        )
    content_type = headers.get("content-type", "")
    if method in _BODY_METHODS and body and _media_type(content_type) != JSON_TYPE:
        shown = repr(content_type) if content_type else "none"
        return error_response(
            415,
            "UnsupportedMediaType",
            f"Content-Type {shown} is not supported;"
            " send the body as JSON with Content-Type: application/json.",
        )
    return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read body once, then waits like the original."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
