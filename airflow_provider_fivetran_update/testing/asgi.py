"""Starlette answers and ASGI helpers shared by the simulator's front, API routes and admin routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from airflow_provider_fivetran_update.testing.faults import DEFAULT_ERROR_CODES
from airflow_provider_fivetran_update.testing.model import ConnectionNotFoundError

__all__ = [
    "JSON_TYPE",
    "NO_ANSWER",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "encode_json",
    "error_response",
    "json_object",
    "json_response",
    "not_found",
    "starlette_app",
    "success_response",
    "wait_unless_disconnected",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE = "application/json"


def encode_json(payload: Any) -> bytes:
    """``payload`` as compact JSON bytes."""
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(
        encode_json(payload), status_code=status, headers=dict(headers or {}), media_type=JSON_TYPE
    )


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An answer in Fivetran's error shape: ``{"code": ..., "message": ...}``."""
    return json_response(status, {"code": code, "message": message}, headers)


def success_response(message: str, data: Any = None) -> Response:
    """An answer in Fivetran's success shape, with ``data`` when given."""
    payload: dict[str, Any] = {"code": "Success", "message": message}
    if data is not None:
        payload["data"] = data
    return json_response(200, payload)


def not_found(exc: ConnectionNotFoundError) -> Response:
    """Fivetran's answer for an unknown connection id."""
    return error_response(404, "NotFound_Connection", str(exc))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, "NotFound", f"Path '{request.url.path}' doesn't exist", exc.headers)
    code = DEFAULT_ERROR_CODES.get(exc.status_code, "Error")
    return error_response(exc.status_code, code, exc.detail, exc.headers)


def starlette_app(routes: list[BaseRoute]) -> Starlette:
    """A Starlette app that answers unknown paths and HTTP errors in Fivetran's error shape."""
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})


async def json_object(request: Request, *, required: bool) -> dict[str, Any] | Response:
    """The request body as a JSON object, or a 400 answer saying why it is not one."""
    raw = await request.body()
    if not raw.strip():
        if required:
            return error_response(400, "InvalidInput", "The request body must be a JSON object.")
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "InvalidInput", "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return error_response(
            400, "InvalidInput", f"The request body must be a JSON object, not {type(body).__name__}."
        )
    return body


class _NoAnswer(Response):
    """Sends nothing: the client already left, and the request is logged as unanswered."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


NO_ANSWER = _NoAnswer()


async def wait_unless_disconnected(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds``; return False as soon as the client disconnects, True if it stayed."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return False
                await asyncio.sleep(0.01)  # not expected once the body is read; never spin
    except TimeoutError:
        return True
