"""The Fivetran API routes of the simulator (``/v1/...``), served behind the front in :mod:`.app`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from airflow_provider_fivetran_update.testing.asgi import (
    NO_ANSWER,
    error_response,
    json_object,
    not_found,
    success_response,
    wait_unless_disconnected,
)
from airflow_provider_fivetran_update.testing.core import SimulatorCore
from airflow_provider_fivetran_update.testing.fivetran_rules import check_update_body, update_payload
from airflow_provider_fivetran_update.testing.model import (
    ConnectionNotFoundError,
    InvalidCursorError,
)

__all__ = ["ApiRoutes"]

# The OpenAPI names Google Sheets as a connector type without table-level re-sync.
NO_TABLE_RESYNC_SERVICES = frozenset({"google_sheets"})


class ApiRoutes:
    """The handlers of Fivetran's endpoints, working on one :class:`~.core.SimulatorCore`.

    :param core: the simulator whose connections and settings these routes serve.
    """

    def __init__(self, core: SimulatorCore) -> None:
        self._core = core

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes, with the legacy ``/v1/connectors`` ones if the core says so."""
        names = ["connections"]
        if self._core.legacy_connectors_path:
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
        if self._core.legacy_connectors_path:
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
        if not self._core.state.group_exists(group_id):
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
            items, next_cursor = self._core.state.page(
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
        if not self._core.state.exists(connection_id):
            return not_found(ConnectionNotFoundError(connection_id))
        body = await json_object(request, required=required)
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
            data = self._core.state.view(request.path_params["connection_id"])
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response("Connection details retrieved successfully", data)

    async def update_connection(self, request: Request) -> Response:
        """``PATCH /v1/connections/{id}``: validated like Fivetran, then applied to the state."""
        state = self._core.state
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
        limiter = self._core.setup_test_limiter
        retry_after = limiter.acquire(self._core.state.now())
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
        seconds = self._core.setup_tests_seconds
        return seconds <= 0 or await wait_unless_disconnected(request.receive, seconds)

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
            self._core.state.run_setup_tests(connection_id)
            if not await self._setup_tests_take_time(request):
                return NO_ANSWER
            data = self._core.state.view(connection_id)
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
        service = self._core.state.view(connection_id)["service"]
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
            self._core.state.resync(connection_id, scope)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response(message)

    async def force_sync(self, request: Request) -> Response:
        """Legacy ``POST /v1/connectors/{id}/force``: a forced sync."""
        return self._trigger(request.path_params["connection_id"], force=True)

    def _trigger(self, connection_id: str, *, force: bool) -> Response:
        try:
            self._core.state.trigger_sync(connection_id, force=force)
        except ConnectionNotFoundError as exc:
            return not_found(exc)
        return success_response(
            f"Sync has been successfully triggered for connection with id '{connection_id}'"
        )
