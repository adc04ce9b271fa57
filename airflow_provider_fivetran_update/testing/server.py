"""Run an ASGI app under uvicorn in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["BackgroundServer"]

BACKLOG = 2048

AsgiApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def _tracking_protocol(registry: dict[Any, asyncio.BaseTransport]) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, remembering each connection's transport by peer address.

    ASGI gives an app no way to close a connection without answering; the ``drop`` fault needs it.
    """

    class TrackingProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._peer = getattr(self, "client", None)
            registry[self._peer] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if registry.get(self._peer) is self.transport:
                del registry[self._peer]
            super().connection_lost(exc)

    return TrackingProtocol


class BackgroundServer:
    """uvicorn serving an ASGI application from a daemon thread.

    :param app: the application.
    :param transports: if given, kept filled with each open connection's transport by peer
        address (the ASGI ``client``), so that the app can close a connection without answering.
    :param host: the address to bind.
    :param port: the port to bind; 0 picks a free one.
    :param timeout_keep_alive: seconds an idle keep-alive connection stays open.
    :param log_level: uvicorn's log level.
    :param access_log: log every request.
    """

    def __init__(
        self,
        app: AsgiApp,
        *,
        transports: dict[Any, asyncio.BaseTransport] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_keep_alive: int = 30,
        log_level: str = "warning",
        access_log: bool = False,
    ) -> None:
        self._app = app
        self._transports = transports
        self._host = host
        self._port = port
        self._timeout_keep_alive = timeout_keep_alive
        self._log_level = log_level
        self._access_log = access_log
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.bound_port: int | None = None

    def start(self, timeout: float = 10.0) -> int:
        """Bind, start serving and return the port once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("The server is already running.")
        family = socket.AF_INET6 if ":" in self._host.strip("[]") else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it every answer waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host.strip("[]"), self._port))
        except OSError:
            sock.close()
            raise
        self.bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            host=self._host,
            port=self.bound_port,
            http="auto" if self._transports is None else _tracking_protocol(self._transports),
            lifespan="off",
            log_config=None,
            log_level=self._log_level,
            access_log=self._access_log,
            proxy_headers=False,
            server_header=False,
            backlog=BACKLOG,
            limit_concurrency=None,
            timeout_keep_alive=self._timeout_keep_alive,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fivetran-simulator", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"The Fivetran simulator did not start on {self._host}:{self.bound_port}.")
            time.sleep(0.005)
        return self.bound_port

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; open connections are closed."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()
