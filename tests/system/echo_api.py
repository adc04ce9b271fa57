"""A hostile stand-in for Fivetran (or a proxy in front of it) whose answers echo the request.

Real gateways and misbehaving APIs do this: an error body that quotes the request it rejected,
``Authorization`` header and body included. The answer depends on the connection id in the path,
so one server serves every scenario of a DAG run:

* ``echo_json_<status>``: a Fivetran-style ``{"code", "message"}`` body whose message quotes the
  request (headers and body as sent);
* ``echo_html_<status>``: a proxy's HTML error page quoting the same, HTML-escaped;
* ``echo_data_200``: a valid connection whose setup-test warning quotes the request;
* ``echo_garbage``: not HTTP at all, the request head sent back as a status line (client libraries
  then quote it in their exceptions);
* ``echo_ok_then_<kind>_<status>``: a valid connection (setup incomplete) for the first request,
  then as ``<kind>_<status>``, to get a deferred wait into its trigger.

Every request is recorded; :meth:`EchoAPI.echoed` returns everything sent back, so a test can
show the secrets really were in the answers before asserting they appear nowhere else.
"""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class EchoedRequest:
    method: str
    raw_path: str
    authorization: str
    body: str


class EchoAPI:
    """A loopback HTTP server; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[EchoedRequest] = []
        self._answers: list[bytes] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
                request = EchoedRequest(self.command, self.path, self.headers.get("Authorization", ""), body)
                with api._lock:
                    seen = sum(1 for item in api.requests if item.raw_path == self.path)
                    api.requests.append(request)
                status, content_type, payload = api._answer(request, seen)
                with api._lock:
                    api._answers.append(payload)
                if status is None:
                    self.wfile.write(payload)
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PATCH = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, connection_id: str) -> int:
        with self._lock:
            return sum(
                1 for item in self.requests if item.raw_path.startswith(f"/v1/connections/{connection_id}")
            )

    def echoed(self) -> str:
        """Everything the server answered, as text."""
        with self._lock:
            return b"\n".join(self._answers).decode("utf-8", errors="replace")

    @staticmethod
    def _dump(request: EchoedRequest) -> str:
        # Body first: a client shows only the start of a body that is not a Fivetran answer.
        return f"{request.body}\nAuthorization: {request.authorization}\n{request.method} {request.raw_path}"

    def _answer(self, request: EchoedRequest, seen: int) -> tuple[int | None, str, bytes]:
        scenario = request.raw_path.rsplit("/", 1)[-1].removeprefix("echo_")
        if scenario.startswith("ok_then_"):
            if seen == 0:
                data = {
                    "id": request.raw_path.rsplit("/", 1)[-1],
                    "service": "postgres",
                    "paused": False,
                    "status": {"setup_state": "incomplete", "sync_state": "scheduled"},
                }
                return 200, "application/json", json.dumps({"code": "Success", "data": data}).encode()
            scenario = scenario.removeprefix("ok_then_")
        if scenario == "data_200":
            data = {
                "id": request.raw_path.rsplit("/", 1)[-1],
                "paused": True,
                "status": {
                    "setup_state": "connected",
                    "sync_state": "scheduled",
                    "warnings": [{"code": "Echo", "message": f"Applied: {self._dump(request)}"}],
                },
            }
            return 200, "application/json", json.dumps({"code": "Success", "data": data}).encode()
        if scenario == "garbage":
            head = self._dump(request).replace("\r", " ").replace("\n", " ")
            return None, "", f"HTTP/1.1 ZZZ {head}\r\n\r\n".encode()
        kind, _, status_text = scenario.partition("_")
        status = int(status_text)
        if kind == "json":
            message = f"Request rejected: {self._dump(request)}"
            body = json.dumps({"code": "InvalidInput", "message": message})
            return status, "application/json", body.encode()
        # Escaping only <, > and &, as many proxies do; the page stays short enough for the start of
        # it that an error quotes to hold the body's secrets.
        quoted = html.escape(self._dump(request), quote=False)
        page = f"<html><body><h1>{status}</h1><pre>{quoted}</pre></body></html>"
        return status, "text/html", page.encode()
