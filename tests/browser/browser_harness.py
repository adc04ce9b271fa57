"""Processes for the browser test: a real ``airflow api-server`` and Debian's Chromium, on loopback.

Everything binds to 127.0.0.1 on a port picked free just before. The api-server runs in its own
process group, so stopping it also stops the uvicorn worker it forks; ``stop()`` is idempotent and
is called from fixture finalizers, so it runs when a test fails too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.testing import FivetranSimulator

LOOPBACK = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
# Flags for a root, offline, headless Chromium: without the background-networking ones it keeps
# trying to reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ADMIN_USER = "admin"
# The example DAG the test runs against the simulator, and the Fivetran connection it updates.
EXAMPLE_DAG_ID = "example_fivetran_sync_frequency"
EXAMPLE_TASK_ID = "set_sync_frequency"
FIVETRAN_CONNECTION_ID = "browser_salesforce"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (port 0 probing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    """The last lines of a log file, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def stop_process_group(process: subprocess.Popen[bytes] | None, *, grace: float = 10.0) -> None:
    """SIGTERM a process group started with ``start_new_session=True``, then SIGKILL what is left."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # The group may outlive its leader (a worker still shutting down): kill what is left.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=grace)


def airflow_env(airflow_home: Path, **settings: str) -> dict[str, str]:
    """The environment for Airflow subprocesses: this AIRFLOW_HOME, no stray connections, no examples."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


class ApiServer:
    """``airflow api-server`` with the simple auth manager and one known admin user.

    The simple auth manager generates a password for every user in ``[core]
    simple_auth_manager_users`` that its passwords file does not list yet; writing the file first
    gives the user a password we know.
    """

    def __init__(self, airflow_home: Path, work_dir: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.airflow_home = airflow_home
        self.work_dir = work_dir
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.password = f"pw-{os.urandom(8).hex()}"
        self.log_path = work_dir / "api-server.log"
        self._extra_env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0

    def start(self) -> ApiServer:
        passwords_file = self.work_dir / "simple_auth_manager_passwords.json"
        passwords_file.write_text(json.dumps({ADMIN_USER: self.password}))
        env = airflow_env(
            self.airflow_home,
            AIRFLOW__CORE__AUTH_MANAGER=(
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{ADMIN_USER}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords_file),
            # The Test button of the connection list is disabled unless this is "Enabled".
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__API__HOST=LOOPBACK,
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__EXPOSE_CONFIG="False",
            **self._extra_env,
        )
        self._started_at = time.monotonic()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "airflow",
                    "api-server",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                    # The UI and the public API only; the execution API serves workers, and
                    # `airflow dags test` runs tasks in-process.
                    "--apps",
                    "core",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Wait until the UI answers; returns the seconds since start."""
        deadline = self._started_at + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"airflow api-server exited with {self._process.returncode}:\n{tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - self._started_at
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"airflow api-server not ready after {timeout:.0f}s:\n{tail(self.log_path)}")

    def stop(self) -> None:
        stop_process_group(self._process)


@dataclass
class DagRunResult:
    """The latest run of the example DAG, as ``airflow dags test`` left it."""

    dag_id: str
    run_id: str
    task_id: str
    state: str
    seconds: float
    output: str


@dataclass
class Stack:
    """What the browser test runs against."""

    sim: FivetranSimulator
    server: ApiServer
    dag_run: DagRunResult
    server_ready_seconds: float
    work_dir: Path


def new_user_data_dir() -> str:
    """A new, empty Chromium profile directory."""
    return tempfile.mkdtemp(prefix="fivetran-browser-profile-")
