"""Process plumbing for the deployment test: start, watch and stop every component we own.

Everything runs on 127.0.0.1, on ports picked free at start, with state under one temporary
directory. Each component is its own process group (``start_new_session=True``), so stopping it
takes its children too (gunicorn/uvicorn workers, celery pool processes, task supervisors).
Cleanup runs from ``try/finally``, ``atexit`` and on SIGINT/SIGTERM/SIGHUP, and is idempotent.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the harness dies without cleaning up (SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the atexit/signal cleanup still applies
        pass


class DeploymentError(RuntimeError):
    """A component did not come up, or a check failed: the message says which and why."""


def log(message: str) -> None:
    print(f"[deploy {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    what: str,
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.5,
    alive: Callable[[], None] | None = None,
) -> None:
    """Poll ``predicate`` until true; ``alive`` raises if a component died meanwhile."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            if predicate():
                return
        except Exception as exc:  # a probe failing is "not yet", but keep the reason
            last_error = exc
        time.sleep(interval)
    reason = f" (last probe error: {last_error!r})" if last_error else ""
    raise DeploymentError(f"timed out after {timeout:.0f}s waiting for {what}{reason}")


@dataclass
class Component:
    """One long-running process we started, with its log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str]
    cwd: Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 15.0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            out.write(f"\n===== start #{self.starts}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(self.env),
                cwd=self.cwd,
                start_new_session=True,
                user=self.user,
                preexec_fn=_die_with_parent,
            )
        log(f"started {self.name} (pid {self.proc.pid})")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise DeploymentError(
                f"{self.name} exited with code {self.proc.returncode}; last lines of "
                f"{self.log_path}:\n{tail(self.log_path)}"
            )

    def kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, *, sig: int | None = None, timeout: float | None = None) -> None:
        """Signal the whole process group, wait, then SIGKILL whatever is left of it."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.kill_group(sig if sig is not None else self.stop_signal)
            try:
                self.proc.wait(timeout=timeout if timeout is not None else self.stop_timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in time; SIGKILL to its process group")
        # Children may outlive their leader (celery pool, task supervisors): sweep the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.proc = None


@dataclass
class Stack:
    """The set of components, stopped in reverse start order exactly once."""

    components: dict[str, Component] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    _stopped: bool = False

    def add(self, component: Component) -> Component:
        self.components[component.name] = component
        self.order.append(component.name)
        return component

    def __getitem__(self, name: str) -> Component:
        return self.components[name]

    def check_alive(self, *names: str) -> None:
        for name in names or tuple(self.order):
            self.components[name].check_alive()

    def stop_all(self) -> None:
        """Stop the Airflow components and the simulator together, then Redis, then PostgreSQL."""
        if self._stopped:
            return
        self._stopped = True
        running = [self.components[n] for n in reversed(self.order) if self.components[n].proc is not None]
        services = [c for c in running if c.name in ("redis", "postgres")]
        others = [c for c in running if c not in services]

        def stop(component: Component) -> None:
            try:
                component.stop()
            except Exception as exc:  # keep stopping the others
                log(f"error stopping {component.name}: {exc!r}")

        if others:
            log(f"stopping {', '.join(c.name for c in others)}")
            with ThreadPoolExecutor(max_workers=len(others)) as pool:
                list(pool.map(stop, others))
        for component in services:
            log(f"stopping {component.name}")
            stop(component)
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()

    def install_handlers(self) -> None:
        """Stop everything on interpreter exit and on the usual termination signals."""
        atexit.register(self.stop_all)

        def on_signal(signum: int, _frame: object) -> None:
            log(f"received signal {signum}: stopping everything")
            self.stop_all()
            sys.exit(128 + signum)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)


# --------------------------------------------------------------------------- PostgreSQL / Redis


def postgres_bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        raise DeploymentError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
            "install them with: apt-get update && apt-get install -y postgresql"
        )
    return candidates[0].parent


def postgres_os_user() -> str:
    """initdb refuses to run as root: use Debian's ``postgres`` account."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise DeploymentError(
            "running as root but there is no 'postgres' OS user to run the server as; "
            "apt-get install -y postgresql creates it"
        ) from exc
    return "postgres"


def prepare_postgres(base: Path, *, port: int, db_user: str, db_password: str) -> Component:
    """initdb a fresh cluster under ``base`` and return the (not yet started) server component."""
    bindir = postgres_bin_dir()
    os_user = postgres_os_user()
    pw = pwd.getpwnam(os_user)
    data = base / "pgdata"
    sock = base / "pgsock"
    for d in (data, sock):
        d.mkdir(parents=True)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    # The cluster's own superuser authenticates by password over TCP; trust on the socket only.
    pwfile = base / "pgpass.init"
    pwfile.write_text(db_password + "\n")
    os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    pwfile.chmod(0o600)
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            db_user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        user=os_user,
        cwd=str(data),
    )
    pwfile.unlink()
    return Component(
        name="postgres",
        argv=[
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(sock),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=64MB",
        ],
        log_path=base / "logs" / "postgres.log",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        cwd=data,
        user=os_user,
        stop_signal=signal.SIGINT,  # "fast" shutdown: do not wait for clients
    )


def postgres_ready(port: int) -> bool:
    bindir = postgres_bin_dir()
    result = subprocess.run(
        [str(bindir / "pg_isready"), "-h", LOOPBACK, "-p", str(port), "-q"],
        check=False,
    )
    return result.returncode == 0


def psql(base: Path, port: int, db_user: str, sql: str) -> None:
    bindir = postgres_bin_dir()
    subprocess.run(
        [
            str(bindir / "psql"),
            "-h",
            str(base / "pgsock"),
            "-p",
            str(port),
            "-U",
            db_user,
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        ],
        check=True,
        user=postgres_os_user(),
        stdout=subprocess.DEVNULL,
        cwd="/",
    )


def prepare_redis(base: Path, *, port: int) -> Component:
    redis = shutil.which("redis-server")
    if redis is None:
        raise DeploymentError(
            "redis-server not found; install it with: apt-get update && apt-get install -y redis-server"
        )
    rdir = base / "redis"
    rdir.mkdir(parents=True)
    return Component(
        name="redis",
        argv=[
            redis,
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(rdir),
            "--daemonize",
            "no",
        ],
        log_path=base / "logs" / "redis.log",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=rdir,
    )


def redis_ready(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


# --------------------------------------------------------------------------- HTTP


def http_json(
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    attempts: int | None = None,
) -> tuple[int, Any]:
    """One JSON request; GETs are retried on timeouts and refused connections (a busy 2-core box)."""
    data = None if body is None else json.dumps(body).encode()
    tries = attempts if attempts is not None else (3 if method == "GET" else 1)
    for attempt in range(1, tries + 1):
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
            break
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            status = exc.code
            break
        except (TimeoutError, ConnectionError, urllib.error.URLError):
            if attempt == tries:
                raise
            time.sleep(attempt)
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


class AirflowAPI:
    """The public REST API (v2) with a JWT from the simple auth manager."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            status, body = http_json(
                "POST",
                f"{self.base_url}/auth/token",
                body={"username": self.username, "password": self.password},
            )
            if status not in (200, 201) or not isinstance(body, dict) or "access_token" not in body:
                raise DeploymentError(f"POST /auth/token answered {status}: {body!r}")
            self._token = str(body["access_token"])
        return self._token

    def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200,)) -> Any:
        status, payload = http_json(
            method,
            f"{self.base_url}/api/v2{path}",
            body=body,
            headers={"Authorization": f"Bearer {self.token()}"},
        )
        if status == 401:  # token expired: one fresh try
            self._token = None
            status, payload = http_json(
                method,
                f"{self.base_url}/api/v2{path}",
                body=body,
                headers={"Authorization": f"Bearer {self.token()}"},
            )
        if status not in ok:
            raise DeploymentError(f"{method} /api/v2{path} answered {status}: {payload!r}")
        return payload

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def paged(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        offset = 0
        sep = "&" if "?" in path else "?"
        while True:
            page = self.get(f"{path}{sep}limit=100&offset={offset}")
            items = page.get(key, [])
            yield from items
            offset += len(items)
            if not items or offset >= page.get("total_entries", 0):
                return


def random_secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"
