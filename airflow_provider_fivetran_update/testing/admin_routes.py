"""The admin routes of the simulator (``/__admin/...``): what a test does in Python, over HTTP."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_fivetran_update.testing.asgi import (
    error_response,
    json_object,
    json_response,
    not_found,
)
from airflow_provider_fivetran_update.testing.core import SimulatorCore
from airflow_provider_fivetran_update.testing.faults import Fault, RecordedRequest
from airflow_provider_fivetran_update.testing.model import ConnectionNotFoundError

__all__ = ["ADMIN_PREFIX", "AdminRoutes"]

ADMIN_PREFIX = "/__admin"


class AdminRoutes:
    """The handlers of ``/__admin``, working on one :class:`~.core.SimulatorCore`.

    :param core: the simulator these routes inspect and configure.
    """

    def __init__(self, core: SimulatorCore) -> None:
        self._core = core

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes, all under :data:`ADMIN_PREFIX`."""
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
        # The address the client reached the simulator at: the core does not know where it is served.
        return json_response(200, {"status": "ok", "url": str(request.base_url).rstrip("/")})

    async def admin_reset(self, request: Request) -> Response:
        """``POST /__admin/reset``: back to the initial state; ``{"seed": false}`` skips the demo data."""
        body = await json_object(request, required=False)
        if isinstance(body, Response):
            return body
        seed = body.get("seed")
        if seed is not None and not isinstance(seed, bool):
            return error_response(400, "InvalidInput", "seed must be a boolean.")
        self._core.reset(seed=seed)
        return json_response(200, {"connections": self._core.state.ids()})

    async def admin_seed(self, request: Request) -> Response:
        """``POST /__admin/seed``: add the demo connections."""
        try:
            ids = self._core.seed_demo()
        except ValueError as exc:
            return error_response(409, "Conflict", str(exc))
        return json_response(200, {"connections": ids})

    async def admin_requests(self, request: Request) -> Response:
        """``GET /__admin/requests`` (``?method=&path=`` filters) or ``DELETE`` to clear the log."""
        if request.method == "DELETE":
            self._core.request_log.clear()
            return json_response(200, {"requests": []})
        method = request.query_params.get("method")
        path = request.query_params.get("path")
        items = [
            _recorded_json(item)
            for item in self._core.request_log.snapshot()
            if (method is None or item.method == method.upper()) and (path is None or item.path == path)
        ]
        return json_response(200, {"requests": items, "count": len(items)})

    async def admin_connections(self, request: Request) -> Response:
        """``GET /__admin/connections`` lists every connection; ``POST`` adds one."""
        if request.method == "GET":
            state = self._core.state
            return json_response(200, {"items": [state.view(cid) for cid in state.ids()]})
        body = await json_object(request, required=True)
        if isinstance(body, Response):
            return body
        connection_id = body.pop("id", None) or body.pop("connection_id", None)
        if not isinstance(connection_id, str):
            return error_response(400, "InvalidInput", "The body needs the connection's 'id'.")
        try:
            data = self._core.state.add(connection_id, **body)
        except (TypeError, ValueError) as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(201, {"code": "Success", "data": data})

    async def admin_connection(self, request: Request) -> Response:
        """``GET`` (unmasked, with ``auth`` and behaviour flags) or ``DELETE`` one connection."""
        connection_id = request.path_params["connection_id"]
        try:
            if request.method == "DELETE":
                self._core.state.remove(connection_id)
                return json_response(
                    200, {"code": "Success", "message": f"Connection '{connection_id}' removed"}
                )
            return json_response(200, {"code": "Success", "data": self._core.state.raw(connection_id)})
        except ConnectionNotFoundError as exc:
            return not_found(exc)

    async def admin_status(self, request: Request) -> Response:
        """``POST /__admin/connections/{id}/status``: body as for
        :meth:`~.simulator.FivetranSimulator.set_status`."""
        body = await json_object(request, required=True)
        if isinstance(body, Response):
            return body
        try:
            data = self._core.state.set_status(request.path_params["connection_id"], **body)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        except ValueError as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"code": "Success", "data": data})

    async def admin_behaviour(self, request: Request) -> Response:
        """``POST /__admin/connections/{id}/behaviour``: booleans ``broken``, ``fail_historical_sync``,
        ``fail_syncs``."""
        body = await json_object(request, required=True)
        if isinstance(body, Response):
            return body
        unknown = set(body) - {"broken", "fail_historical_sync", "fail_syncs"}
        if unknown or not all(isinstance(value, bool) for value in body.values()):
            return error_response(
                400, "InvalidInput", "Give booleans 'broken', 'fail_historical_sync' and/or 'fail_syncs'."
            )
        try:
            self._core.state.set_behaviour(request.path_params["connection_id"], **body)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return json_response(200, {"code": "Success"})

    async def admin_reschedule(self, request: Request) -> Response:
        """``POST /__admin/connections/{id}/reschedule``: ``{"seconds": 3600}``, see
        :meth:`~.simulator.FivetranSimulator.reschedule_next_sync`."""
        body = await json_object(request, required=True)
        if isinstance(body, Response):
            return body
        seconds: Any = body.get("seconds")
        try:
            self._core.state.reschedule_next_sync(request.path_params["connection_id"], seconds)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        except ValueError as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"code": "Success"})

    async def admin_faults(self, request: Request) -> Response:
        """``POST`` arms faults (body: ``fail_next`` arguments), ``DELETE`` disarms, ``GET`` counts."""
        if request.method == "DELETE":
            self._core.faults.clear()
        elif request.method == "POST":
            body = await json_object(request, required=True)
            if isinstance(body, Response):
                return body
            count = body.pop("n", 1)
            if not isinstance(count, int) or isinstance(count, bool):
                return error_response(400, "InvalidInput", "n must be an integer.")
            try:
                self._core.faults.add(Fault(**body), count)
            except (TypeError, ValueError) as exc:
                return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"pending": self._core.faults.pending()})

    async def admin_rate_limit(self, request: Request) -> Response:
        """``POST /__admin/rate_limit``: ``{"requests": 60, "per_seconds": 10, "retry_after": 3600}``
        (``retry_after`` optional); ``"requests": null`` lifts it."""
        body = await json_object(request, required=True)
        if isinstance(body, Response):
            return body
        try:
            self._core.rate_limiter.configure(
                body.get("requests"),
                float(body.get("per_seconds", 60.0)),
                body.get("retry_after"),
            )
        except (TypeError, ValueError) as exc:
            return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"enabled": self._core.rate_limiter.enabled})

    async def admin_setup_tests(self, request: Request) -> Response:
        """``POST /__admin/setup_tests``: ``{"seconds": 5, "limits": "paid"}``; each key optional."""
        body = await json_object(request, required=True)
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
                self._core.setup_test_limiter.configure(body["limits"])
            except (TypeError, ValueError) as exc:
                return error_response(400, "InvalidInput", str(exc))
        if seconds is not None:
            self._core.setup_tests_seconds = float(seconds)
        return json_response(
            200,
            {
                "seconds": self._core.setup_tests_seconds,
                "limits": [list(pair) for pair in self._core.setup_test_limiter.windows],
            },
        )

    async def admin_historical_sync_start(self, request: Request) -> Response:
        """``GET``, or ``POST {"mode": "immediate" | "next_scheduled"}``, the historical sync start."""
        if request.method == "POST":
            body = await json_object(request, required=True)
            if isinstance(body, Response):
                return body
            mode: Any = body.get("mode")
            try:
                self._core.state.historical_sync_start = mode
            except ValueError as exc:
                return error_response(400, "InvalidInput", str(exc))
        return json_response(200, {"mode": self._core.state.historical_sync_start})

    async def admin_clock(self, request: Request) -> Response:
        """``GET /__admin/clock``: the simulated time."""
        return json_response(200, {"now": self._core.now().isoformat().replace("+00:00", "Z")})

    async def admin_advance(self, request: Request) -> Response:
        """``POST /__admin/clock/advance``: ``{"seconds": 5}`` moves the simulated time forward."""
        body = await json_object(request, required=True)
        if isinstance(body, Response):
            return body
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return error_response(400, "InvalidInput", "seconds must be a number >= 0.")
        self._core.advance(seconds)
        return json_response(200, {"now": self._core.now().isoformat().replace("+00:00", "Z")})


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
