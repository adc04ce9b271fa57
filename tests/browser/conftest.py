"""Fixtures of the browser test: the simulator, an example DAG run, the api-server and Chromium.

They share the session's migrated SQLite database (``airflow_db`` in ``tests/conftest.py``); the
api-server and ``airflow dags test`` are subprocesses with that AIRFLOW_HOME.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser_harness import (
    ADMIN_USER,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXAMPLE_DAG_ID,
    EXAMPLE_TASK_ID,
    FIVETRAN_CONNECTION_ID,
    LOOPBACK,
    ApiServer,
    DagRunResult,
    Stack,
    airflow_env,
    new_user_data_dir,
)

from airflow_provider_fivetran_update.testing import FivetranSimulator

if TYPE_CHECKING:
    from playwright.sync_api import Page


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: end-to-end test of the Airflow UI in headless Chromium (make test-browser)"
    )


def _browser_prerequisites() -> str | None:
    """Why the browser test cannot run here, or None. ``make test`` installs both first."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed in this venv (make browser-deps installs it)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (make browser-deps installs Debian's chromium)"
    return None


def _run_example_dag(airflow_home: Path, sim: FivetranSimulator, work_dir: Path) -> DagRunResult:
    env = airflow_env(airflow_home, **sim.airflow_env())
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "test",
            EXAMPLE_DAG_ID,
            "--conf",
            f'{{"connection_id": "{FIVETRAN_CONNECTION_ID}"}}',
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    (work_dir / "dags-test.log").write_text(output)
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        row = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (EXAMPLE_DAG_ID,)
        ).fetchone()
    if row is None:
        raise AssertionError(f"`airflow dags test {EXAMPLE_DAG_ID}` made no DAG run:\n{output[-4000:]}")
    return DagRunResult(EXAMPLE_DAG_ID, str(row[0]), EXAMPLE_TASK_ID, str(row[1]), seconds, output)


@pytest.fixture(scope="module")
def stack(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The simulator, a finished run of an example DAG against it, and a ready api-server."""
    if (reason := _browser_prerequisites()) is not None:
        pytest.skip(reason)
    work_dir = tmp_path_factory.mktemp("browser")
    with FivetranSimulator() as sim:
        sim.add_connection(FIVETRAN_CONNECTION_ID, service="salesforce", paused=False, sync_frequency=360)
        server = ApiServer(airflow_db, work_dir)
        try:
            # The DAG runs in-process while the api-server boots: both take tens of seconds.
            server.start()
            dag_run = _run_example_dag(airflow_db, sim, work_dir)
            ready = server.wait_ready()
            yield Stack(sim, server, dag_run, ready, work_dir)
        finally:
            server.stop()


@pytest.fixture
def page(stack: Stack) -> Iterator[Page]:
    """A logged-in page of a fresh headless Chromium that may only reach loopback."""
    from playwright.sync_api import Route, sync_playwright

    profile = new_user_data_dir()
    blocked: list[str] = []

    def loopback_only(route: Route) -> None:
        url = route.request.url
        if url.startswith((f"http://{LOOPBACK}:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=list(CHROMIUM_ARGS),
                viewport={"width": 1400, "height": 900},
                locale="en-US",
                timezone_id="UTC",
            )
            try:
                context.set_default_timeout(30_000)
                context.route("**/*", loopback_only)
                page = context.new_page()
                _log_in(page, stack.server)
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert not blocked, f"the UI tried to reach non-loopback addresses: {blocked}"


def _log_in(page: Any, server: ApiServer) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")
