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

from airflow_provider_fivetran_update.testing.faults import (
    DEFAULT_ERROR_CODES,
    Fault,
    RecordedRequest,
)
from airflow_provider_fivetran_update.testing.fivetran_rules import check_update_body, update_payload
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
# The request body, read once at the front and kept in the ASGI scope for the checks that need it.
BODY_SCOPE_KEY = "fivetran_simulator.body"
# The OpenAPI names Google Sheets as a connector type without table-level re-sync.
NO_TABLE_RESYNC_SERVICES = frozenset({"google_sheets"})
# What the API produces (Accept) and consumes (Content-Type); Fivetran's OpenAPI declares only JSON.
_ACCEPTABLE = frozenset({"*/*", "application/*", JSON_TYPE})
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})


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

        scope[BODY_SCOPE_KEY] = body
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
        names = ["connections"]
        if self._sim.legacy_connectors_path:
            names.append("connectors")
        routes: list[BaseRoute] = [Route("/v1/account/info", self.account_info, methods=["GET"])]
        for name in names:
            prefix = f"/v1/{name}"
            one = prefix + "/{connection_id}"
            routes += [
                Route(prefix, self.list_connections, methods=["GET"]),
                Route("/v1/groups/{group_id}/" + name, self.list_group_connections, methods=["GET"]),
                Route(one, self.connection_details, methods=["GET", "PATCH"]),
                Route(one + "/sync", self.sync_connection, methods=["POST"]),
                Route(one + "/test", self.test_connection, methods=["POST"]),
                Route(one + "/resync", self.resync_connection, methods=["POST"]),
                Route(one + "/schemas/tables/resync", self.resync_tables, methods=["POST"]),
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
        return self._page(
            request, request.query_params.get("group_id"), "Connections list retrieved successfully"
        )

    async def list_group_connections(self, request: Request) -> Response:
        """``GET /v1/groups/{id}/connections``: the list of one group, paginated the same way."""
        group_id = request.path_params["group_id"]
        if not self._sim.state.group_exists(group_id):
            return error_response(404, "NotFound_Group", f"Group with id '{group_id}' doesn't exist")
        return self._page(request, group_id, "Group connections retrieved successfully")

    def _page(self, request: Request, group_id: str | None, message: str) -> Response:
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
                group_id=group_id,
                schema=request.query_params.get("schema"),
            )
        except InvalidCursorError as exc:
            return error_response(400, "InvalidInput", str(exc))
        data: dict[str, Any] = {"items": items}
        if next_cursor is not None:
            data["next_cursor"] = next_cursor
        return success_response(message, data)

    async def _connection_and_body(
        self, request: Request, *, required: bool
    ) -> tuple[str, dict[str, Any]] | Response:
        """The path's connection id and the JSON body, or the 404/400 answer."""
        connection_id: str = request.path_params["connection_id"]
        if not self._sim.state.exists(connection_id):
            return not_found(ConnectionNotFoundError(connection_id))
        body = await _json_object(request, required=required)
        if isinstance(body, Response):
            return body
        return connection_id, body

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
        found = await self._connection_and_body(request, required=True)
        if isinstance(found, Response):
            return found
        connection_id, body = found
        problems = check_update_body(body)
        if problems:
            return error_response(400, "InvalidInput", " ".join(problems))
        payload = update_payload(body)
        if payload.get("run_setup_tests") is not False:
            refused = self._setup_test_slot()
            if refused is not None:
                return refused
        try:
            data, tests_ran = state.update(connection_id, payload)
            if tests_ran:
                if not await self._setup_tests_take_time(request):
                    return NO_ANSWER
                data = state.view(connection_id)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response("Connection has been updated", data)

    def _setup_test_slot(self) -> Response | None:
        """``None`` if the account may run setup tests now, else the 429 answer (nothing is counted)."""
        limiter = self._sim.setup_test_limiter
        retry_after = limiter.acquire(self._sim.state.now())
        if retry_after is None:
            return None
        limits = ", ".join(f"{runs} per {seconds:g} s" for runs, seconds in limiter.windows)
        return error_response(
            429,
            "TooManyRequests",
            f"Too many setup tests: the account's setup-test limit ({limits}) is reached."
            f" Retry after {retry_after} seconds; an update that needs no setup tests can send"
            " run_setup_tests: false.",
            {"Retry-After": str(retry_after)},
        )

    async def _setup_tests_take_time(self, request: Request) -> bool:
        """Wait while the setup tests run; False if the client gave up waiting for the answer.

        Fivetran runs the setup tests inside the call, so the answer comes once they are done. The
        change itself is already made: a client that times out has only missed the answer.
        """
        seconds = self._sim.setup_tests_seconds
        return seconds <= 0 or await _wait_unless_disconnected(request.receive, seconds)

    async def sync_connection(self, request: Request) -> Response:
        """``POST /v1/connections/{id}/sync`` with an optional ``{"force": bool}`` body."""
        found = await self._connection_and_body(request, required=False)
        if isinstance(found, Response):
            return found
        connection_id, body = found
        force = body.get("force", False)
        if not isinstance(force, bool):
            return error_response(400, "InvalidInput", f"force must be a boolean, got {force!r}.")
        return self._trigger(connection_id, force=force)

    async def test_connection(self, request: Request) -> Response:
        """``POST /v1/connections/{id}/test``: run the setup tests; the body (``{}`` at least) is required."""
        found = await self._connection_and_body(request, required=True)
        if isinstance(found, Response):
            return found
        connection_id, body = found
        problems = [
            f"{name} must be a boolean, got {body[name]!r}."
            for name in ("trust_certificates", "trust_fingerprints")
            if name in body and not isinstance(body[name], bool)
        ]
        if problems:
            return error_response(400, "InvalidInput", " ".join(problems))
        refused = self._setup_test_slot()
        if refused is not None:
            return refused
        try:
            self._sim.state.run_setup_tests(connection_id)
            if not await self._setup_tests_take_time(request):
                return NO_ANSWER
            data = self._sim.state.view(connection_id)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response("Setup tests have been completed", data)

    async def resync_connection(self, request: Request) -> Response:
        """``POST /v1/connections/{id}/resync``: everything, or ``{"scope": {schema: [table, ...]}}``."""
        found = await self._connection_and_body(request, required=False)
        if isinstance(found, Response):
            return found
        connection_id, body = found
        scope = body.get("scope")
        if scope is not None:
            checked = self._table_scope(connection_id, scope, "scope")
            if isinstance(checked, Response):
                return checked
            scope = checked
        return self._resync(
            connection_id,
            scope,
            f"Sync has been successfully triggered for connection with id '{connection_id}'",
        )

    async def resync_tables(self, request: Request) -> Response:
        """``POST /v1/connections/{id}/schemas/tables/resync``: body ``{schema: [table, ...]}``."""
        found = await self._connection_and_body(request, required=True)
        if isinstance(found, Response):
            return found
        connection_id, body = found
        scope = self._table_scope(connection_id, body, "The request body")
        if isinstance(scope, Response):
            return scope
        return self._resync(connection_id, scope, "Re-sync has been triggered successfully")

    def _table_scope(self, connection_id: str, scope: Any, name: str) -> dict[str, list[str]] | Response:
        """A re-sync scope checked as Fivetran documents it, or the 400 answer."""
        shape = f"{name} must map each schema name to a non-empty list of table names"
        if not isinstance(scope, dict) or not scope:
            return error_response(400, "InvalidInput", f"{shape}; got {scope!r}.")
        for schema, tables in scope.items():
            if (
                not isinstance(tables, list)
                or not tables
                or not all(isinstance(table, str) and table for table in tables)
            ):
                return error_response(400, "InvalidInput", f"{shape}; schema {schema!r} has {tables!r}.")
        service = self._sim.state.view(connection_id)["service"]
        if service in NO_TABLE_RESYNC_SERVICES:
            return error_response(
                400,
                "InvalidInput",
                f"Connection '{connection_id}' ({service}) does not support table-level re-sync;"
                " re-sync the whole connection instead (no scope).",
            )
        return scope

    def _resync(self, connection_id: str, scope: dict[str, list[str]] | None, message: str) -> Response:
        try:
            self._sim.state.resync(connection_id, scope)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response(message)

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
            Route(p + "/connections/{connection_id}/reschedule", self.admin_reschedule, methods=["POST"]),
            Route(p + "/faults", self.admin_faults, methods=["GET", "POST", "DELETE"]),
            Route(p + "/rate_limit", self.admin_rate_limit, methods=["POST"]),
            Route(p + "/setup_tests", self.admin_setup_tests, methods=["POST"]),
            Route(p + "/historical_sync_start", self.admin_historical_sync_start, methods=["GET", "POST"]),
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
        """``POST /__admin/connections/{id}/behaviour``: booleans ``broken``, ``fail_historical_sync``,
        ``fail_syncs``."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        unknown = set(body) - {"broken", "fail_historical_sync", "fail_syncs"}
        if unknown or not all(isinstance(value, bool) for value in body.values()):
            return error_response(
                400, "InvalidInput", "Give booleans 'broken', 'fail_historical_sync' and/or 'fail_syncs'."
            )
        try:
            self._sim.set_behaviour(request.path_params["connection_id"], **body)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return json_response(200, {"code": "Success"})

    async def admin_reschedule(self, request: Request) -> Response:
        """``POST /__admin/connections/{id}/reschedule``: ``{"seconds": 3600}``, see
        :meth:`FivetranSimulator.reschedule_next_sync`."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        seconds: Any = body.get("seconds")
        try:
            self._sim.reschedule_next_sync(request.path_params["connection_id"], seconds)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        except ValueError as exc:
            return error_response(400, "InvalidInput", str(exc))
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
        """``POST /__admin/rate_limit``: ``{"requests": 60, "per_seconds": 10, "retry_after": 3600}``
        (``retry_after`` optional); ``"requests": null`` lifts it."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        try:
            self._sim.rate_limit(
                body.get("requests"),
                float(body.get("per_seconds", 60.0)),
                retry_after=body.get("retry_after"),
            )
        except (TypeError, ValueError) as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"enabled": self._sim.rate_limiter.enabled})

    async def admin_setup_tests(self, request: Request) -> Response:
        """``POST /__admin/setup_tests``: ``{"seconds": 5, "limits": "paid"}``; each key optional."""
        body = await _json_object(request, required=True)
        if isinstance(body, Response):
            return body
        unknown = sorted(set(body) - {"seconds", "limits"})
        seconds = body.get("seconds")
        if unknown or (
            "seconds" in body
            and (isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0)
        ):
            return error_response(
                400,
                "InvalidInput",
                "Give 'seconds' (a number >= 0) and/or 'limits' (a preset, pairs or null).",
            )
        if "limits" in body:
            try:
                self._sim.set_setup_test_limits(body["limits"])
            except (TypeError, ValueError) as exc:
                return error_response(400, "InvalidInput", str(exc))
        if seconds is not None:
            self._sim.setup_tests_seconds = float(seconds)
        return json_response(
            200,
            {
                "seconds": self._sim.setup_tests_seconds,
                "limits": [list(pair) for pair in self._sim.setup_test_limiter.windows],
            },
        )

    async def admin_historical_sync_start(self, request: Request) -> Response:
        """``GET``, or ``POST {"mode": "immediate" | "next_scheduled"}``, the historical sync start."""
        if request.method == "POST":
            body = await _json_object(request, required=True)
            if isinstance(body, Response):
                return body
            mode: Any = body.get("mode")
            try:
                self._sim.historical_sync_start = mode
            except ValueError as exc:
                return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"mode": self._sim.historical_sync_start})

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


class _NoAnswer(Response):
    """Sends nothing: the client already left, and the request is logged as unanswered."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


NO_ANSWER = _NoAnswer()


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
