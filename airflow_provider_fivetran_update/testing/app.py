"""The simulator's HTTP layer: an ASGI application in front of two Starlette routers.

Every ``/v1`` request goes through :class:`SimulatorApp`, which reads the body once, gives the
answer an ``X-Request-Id``, applies an armed fault, checks Basic auth and the rate limit, hands
the request to the Fivetran API routes and records what was answered. ``/__admin`` requests go
to the admin routes without auth, faults or recording.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.fields import build_update_payload
from airflow_provider_fivetran_update.testing.faults import (
    DEFAULT_ERROR_CODES,
    Fault,
    RecordedRequest,
)
from airflow_provider_fivetran_update.testing.state import (
    ConnectionNotFoundError,
    InvalidCursorError,
)

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.testing.simulator import FivetranSimulator

__all__ = ["SimulatorApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ADMIN_PREFIX = "/__admin"
REDACTED = "<redacted>"
JSON_TYPE = "application/json"
# A truncated success body: what a proxy cutting an answer short leaves behind.
MALFORMED_BODY = b'{"code": "Success", "message": "Operation performed.", "data": {"id": '
_DROP_GRACE_SECONDS = 1.0


def _body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(_body(payload), status_code=status, headers=dict(headers or {}), media_type=JSON_TYPE)


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


def _starlette(routes: list[BaseRoute]) -> Starlette:
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})


async def _json_object(request: Request, *, required: bool) -> dict[str, Any] | Response:
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


class SimulatorApp:
    """The ASGI application of one :class:`~.simulator.FivetranSimulator`.

    :param simulator: the simulator whose state, faults, limits and log this app serves.
    """

    def __init__(self, simulator: FivetranSimulator) -> None:
        self._sim = simulator
        # Filled by the server: peer address -> transport, so a fault can close a connection.
        self.transports: dict[Any, asyncio.BaseTransport] = {}
        self._api = _starlette(self._api_routes())
        self._admin = _starlette(self._admin_routes())

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
        sim = self._sim
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        request_id = uuid.uuid4().hex
        arrived = sim.state.now()
        extra_headers: dict[str, str] = {"X-Request-Id": request_id}
        recorded: list[RecordedRequest] = []
        fault = sim.faults.take(method, path)

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
            sim.request_log.append(item)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                record(message["status"])
                added = [(name.lower().encode(), value.encode()) for name, value in extra_headers.items()]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        replay = _replay(body, receive)
        try:
            if fault is None:
                await self._answer(scope, replay, send_with_headers, headers, extra_headers)
            else:
                await self._fault(fault, scope, receive, replay, send_with_headers, headers, extra_headers)
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
        sim = self._sim
        now = sim.state.now()
        if not self._authorized(headers):
            peek = sim.rate_limiter.check(now, consume=False)
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
        decision = sim.rate_limiter.check(now)
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
    ) -> None:
        applied: list[Message] = []
        if fault.after_apply:

            async def keep(message: Message) -> None:
                applied.append(message)

            await self._answer(scope, receive, keep, headers, extra_headers)
        if fault.delay and not await _wait_unless_disconnected(raw_receive, fault.delay):
            return  # the client gave up (read timeout): nothing is answered
        if fault.drop:
            await self._drop(scope, raw_receive)
            return
        if fault.answers_normally:
            if not applied:
                await self._answer(scope, receive, send, headers, extra_headers)
            for message in applied:
                await send(message)
            return
        peek = self._sim.rate_limiter.check(self._sim.state.now(), consume=False)
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
                content = _body({"code": code, "message": f"Simulated fault: HTTP {status} ({code})."})
        elif isinstance(fault.body, bytes):
            content = fault.body
        elif isinstance(fault.body, str):
            content = fault.body.encode()
            media_type = JSON_TYPE if fault.malformed else "text/plain"
        else:
            content = _body(fault.body)
        response = Response(content, status_code=status, headers=response_headers, media_type=media_type)
        await response(scope, receive, send)

    async def _drop(self, scope: Scope, raw_receive: Receive) -> None:
        transport = self.transports.get(scope.get("client"))
        if transport is None:
            raise RuntimeError("The simulator cannot find this request's connection to drop it.")
        transport.close()
        # Return only once the server saw the connection go, so it does not answer 500 instead.
        await _wait_unless_disconnected(raw_receive, _DROP_GRACE_SECONDS)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{self._sim.api_key}:{self._sim.api_secret}".encode()
        return hmac.compare_digest(decoded, expected)

    # -- the Fivetran API ----------------------------------------------------------------------------

    def _api_routes(self) -> list[BaseRoute]:
        prefixes = ["/v1/connections"]
        if self._sim.legacy_connectors_path:
            prefixes.append("/v1/connectors")
        routes: list[BaseRoute] = [Route("/v1/account/info", self.account_info, methods=["GET"])]
        for prefix in prefixes:
            routes += [
                Route(prefix, self.list_connections, methods=["GET"]),
                Route(prefix + "/{connection_id}", self.connection_details, methods=["GET", "PATCH"]),
                Route(prefix + "/{connection_id}/sync", self.sync_connection, methods=["POST"]),
            ]
        if self._sim.legacy_connectors_path:
            # The pre-2024 providers start a sync with POST /v1/connectors/{id}/force.
            routes.append(Route("/v1/connectors/{connection_id}/force", self.force_sync, methods=["POST"]))
        return routes

    async def account_info(self, request: Request) -> Response:
        """``GET /v1/account/info``: who the API key belongs to."""
        return success_response(
            "Account info retrieved successfully",
            {
                "account_id": "sim_account",
                "account_name": "Fivetran Simulator",
                "user_id": "sim_user",
                "system_key_id": None,
            },
        )

    async def list_connections(self, request: Request) -> Response:
        """``GET /v1/connections``: cursor pagination, optional ``group_id`` and ``schema`` filters."""
        raw_limit = request.query_params.get("limit", "100")
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return error_response(
                400, "InvalidInput", f"limit must be an integer from 1 to 1000, got {raw_limit!r}."
            )
        try:
            items, next_cursor = self._sim.state.page(
                limit=limit,
                cursor=request.query_params.get("cursor") or None,
                group_id=request.query_params.get("group_id"),
                schema=request.query_params.get("schema"),
            )
        except InvalidCursorError as exc:
            return error_response(400, "InvalidInput", str(exc))
        data: dict[str, Any] = {"items": items}
        if next_cursor is not None:
            data["next_cursor"] = next_cursor
        return success_response("Connections list retrieved successfully", data)

    async def connection_details(self, request: Request) -> Response:
        """``/v1/connections/{id}``: ``GET`` reads it, ``PATCH`` updates it."""
        if request.method == "PATCH":
            return await self.update_connection(request)
        return await self.get_connection(request)

    async def get_connection(self, request: Request) -> Response:
        """``GET /v1/connections/{id}``."""
        try:
            data = self._sim.state.view(request.path_params["connection_id"])
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response("Connection details retrieved successfully", data)

    async def update_connection(self, request: Request) -> Response:
        """``PATCH /v1/connections/{id}``: validated like Fivetran, then applied to the state."""
        state = self._sim.state
        connection_id = request.path_params["connection_id"]
        if not state.exists(connection_id):
            return not_found(ConnectionNotFoundError(connection_id))
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        try:
            payload = build_update_payload(body, coerce=False)
        except FivetranValidationError as exc:
            return error_response(400, "InvalidInput", str(exc))
        try:
            data, tests_ran = state.update(connection_id, payload)
            if tests_ran and self._sim.setup_tests_seconds > 0:
                # Fivetran runs the setup tests inside the PATCH call, so the answer is slow.
                await asyncio.sleep(self._sim.setup_tests_seconds)
                data = state.view(connection_id)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response("Connection has been updated", data)

    async def sync_connection(self, request: Request) -> Response:
        """``POST /v1/connections/{id}/sync`` with an optional ``{"force": bool}`` body."""
        connection_id = request.path_params["connection_id"]
        if not self._sim.state.exists(connection_id):
            return not_found(ConnectionNotFoundError(connection_id))
        body = await _json_object(request, required=False)
        if isinstance(body, Response):
            return body
        force = body.get("force", False)
        if not isinstance(force, bool):
            return error_response(400, "InvalidInput", f"force must be a boolean, got {force!r}.")
        return self._trigger(connection_id, force=force)

    async def force_sync(self, request: Request) -> Response:
        """Legacy ``POST /v1/connectors/{id}/force``: a forced sync."""
        return self._trigger(request.path_params["connection_id"], force=True)

    def _trigger(self, connection_id: str, *, force: bool) -> Response:
        try:
            self._sim.state.trigger_sync(connection_id, force=force)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response(
            f"Sync has been successfully triggered for connection with id '{connection_id}'"
        )

    # -- admin ---------------------------------------------------------------------------------------

    def _admin_routes(self) -> list[BaseRoute]:
        p = ADMIN_PREFIX
        return [
            Route(p + "/health", self.admin_health, methods=["GET"]),
            Route(p + "/reset", self.admin_reset, methods=["POST"]),
            Route(p + "/seed", self.admin_seed, methods=["POST"]),
            Route(p + "/requests", self.admin_requests, methods=["GET", "DELETE"]),
            Route(p + "/connections", self.admin_connections, methods=["GET", "POST"]),
            Route(p + "/connections/{connection_id}", self.admin_connection, methods=["GET", "DELETE"]),
            Route(p + "/connections/{connection_id}/status", self.admin_status, methods=["POST"]),
            Route(p + "/connections/{connection_id}/behaviour", self.admin_behaviour, methods=["POST"]),
            Route(p + "/faults", self.admin_faults, methods=["GET", "POST", "DELETE"]),
            Route(p + "/rate_limit", self.admin_rate_limit, methods=["POST"]),
            Route(p + "/clock", self.admin_clock, methods=["GET"]),
            Route(p + "/clock/advance", self.admin_advance, methods=["POST"]),
        ]

    async def admin_health(self, request: Request) -> Response:
        """``GET /__admin/health``."""
        return json_response(200, {"status": "ok", "url": self._sim.url})

    async def admin_reset(self, request: Request) -> Response:
        """``POST /__admin/reset``: back to the initial state; ``{"seed": false}`` skips the demo data."""
        body = await _json_object(request, required=False)
        if isinstance(body, Response):
            return body
        seed = body.get("seed")
        if seed is not None and not isinstance(seed, bool):
            return error_response(400, "InvalidInput", "seed must be a boolean.")
        self._sim.reset(seed=seed)
        return json_response(200, {"connections": self._sim.state.ids()})

    async def admin_seed(self, request: Request) -> Response:
        """``POST /__admin/seed``: add the demo connections."""
        try:
            ids = self._sim.seed_demo()
        except ValueError as exc:
            return error_response(409, "Conflict", str(exc))
        return json_response(200, {"connections": ids})

    async def admin_requests(self, request: Request) -> Response:
        """``GET /__admin/requests`` (``?method=&path=`` filters) or ``DELETE`` to clear the log."""
        if request.method == "DELETE":
            self._sim.clear_requests()
            return json_response(200, {"requests": []})
        method = request.query_params.get("method")
        path = request.query_params.get("path")
        items = [
            _recorded_json(item)
            for item in self._sim.requests
            if (method is None or item.method == method.upper()) and (path is None or item.path == path)
        ]
        return json_response(200, {"requests": items, "count": len(items)})

    async def admin_connections(self, request: Request) -> Response:
        """``GET /__admin/connections`` lists every connection; ``POST`` adds one."""
        if request.method == "GET":
            state = self._sim.state
            return json_response(200, {"items": [state.view(cid) for cid in state.ids()]})
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        connection_id = body.pop("id", None) or body.pop("connection_id", None)
        if not isinstance(connection_id, str):
            return error_response(400, "InvalidInput", "The body needs the connection's 'id'.")
        try:
            data = self._sim.add_connection(connection_id, **body)
        except (TypeError, ValueError) as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(201, {"code": "Success", "data": data})

    async def admin_connection(self, request: Request) -> Response:
        """``GET`` (unmasked, with ``auth`` and behaviour flags) or ``DELETE`` one connection."""
        connection_id = request.path_params["connection_id"]
        try:
            if request.method == "DELETE":
                self._sim.remove_connection(connection_id)
                return json_response(
                    200, {"code": "Success", "message": f"Connection '{connection_id}' removed"}
                )
            return json_response(200, {"code": "Success", "data": self._sim.raw_connection(connection_id)})
        except ConnectionNotFoundError as exc:
            return not_found(exc)

    async def admin_status(self, request: Request) -> Response:
        """``POST /__admin/connections/{id}/status``: body as for :meth:`FivetranSimulator.set_status`."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        try:
            data = self._sim.set_status(request.path_params["connection_id"], **body)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        except ValueError as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"code": "Success", "data": data})

    async def admin_behaviour(self, request: Request) -> Response:
        """``POST /__admin/connections/{id}/behaviour``: booleans ``broken``, ``fail_historical_sync``."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        unknown = set(body) - {"broken", "fail_historical_sync"}
        if unknown or not all(isinstance(value, bool) for value in body.values()):
            return error_response(
                400, "InvalidInput", "Give booleans 'broken' and/or 'fail_historical_sync'."
            )
        try:
            self._sim.set_behaviour(request.path_params["connection_id"], **body)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return json_response(200, {"code": "Success"})

    async def admin_faults(self, request: Request) -> Response:
        """``POST`` arms faults (body: ``fail_next`` arguments), ``DELETE`` disarms, ``GET`` counts."""
        if request.method == "DELETE":
            self._sim.clear_faults()
        elif request.method == "POST":
            body = await _json_object(request, required=True)
            if isinstance(body, Response):
                return body
            count = body.pop("n", 1)
            if not isinstance(count, int) or isinstance(count, bool):
                return error_response(400, "InvalidInput", "n must be an integer.")
            try:
                self._sim.fail_next(count, **body)
            except (TypeError, ValueError) as exc:
                return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"pending": self._sim.faults.pending()})

    async def admin_rate_limit(self, request: Request) -> Response:
        """``POST /__admin/rate_limit``: ``{"requests": 60, "per_seconds": 10}``; ``null`` lifts it."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        try:
            self._sim.rate_limit(body.get("requests"), float(body.get("per_seconds", 60.0)))
        except (TypeError, ValueError) as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"enabled": self._sim.rate_limiter.enabled})

    async def admin_clock(self, request: Request) -> Response:
        """``GET /__admin/clock``: the simulated time."""
        return json_response(200, {"now": self._sim.now().isoformat().replace("+00:00", "Z")})

    async def admin_advance(self, request: Request) -> Response:
        """``POST /__admin/clock/advance``: ``{"seconds": 5}`` moves the simulated time forward."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return error_response(400, "InvalidInput", "seconds must be a number >= 0.")
        self._sim.advance(seconds)
        return json_response(200, {"now": self._sim.now().isoformat().replace("+00:00", "Z")})


def _recorded_json(item: RecordedRequest) -> dict[str, Any]:
    return {
        "method": item.method,
        "path": item.path,
        "query": dict(item.query),
        "headers": dict(item.headers),
        "json": item.json,
        "status": item.status,
        "time": item.time,
        "request_id": item.request_id,
        "fault": item.fault,
    }


def _try_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
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


async def _wait_unless_disconnected(receive: Receive, seconds: float) -> bool:
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
