"""Third-party clients against the simulator, unchanged, over loopback.

* Fivetran's own CLI, ``fivetran-cli`` 1.1.0, from its own venv (``make client-venvs`` builds
  ``.clients/fivetran-cli``; ``FIVETRAN_CLI_PYTHON`` points elsewhere). Its entry point cannot be
  aimed at another address (see ``tests/clients/fivetran_cli_driver.py``), so its commands run
  through a driver that builds the CLI's client with a loopback ``base_url``; everything else is
  the CLI's code: argument parsing, request building, pagination, error rendering.
* ``curl``, running the request shapes of Fivetran's documented curl examples.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.helpers import REPO_ROOT
from tests.simulator_credentials import KEY, SECRET

pytest_plugins = ["tests.simulator_fixtures"]

ROOT = REPO_ROOT
DRIVER = ROOT / "tests" / "clients" / "fivetran_cli_driver.py"
CLI_PYTHON = Path(
    os.environ.get("FIVETRAN_CLI_PYTHON", ROOT / ".clients" / "fivetran-cli" / "bin" / "python")
)
CURL = shutil.which("curl")


# -- fivetran-cli ------------------------------------------------------------------------------------

needs_cli = pytest.mark.skipif(
    not CLI_PYTHON.is_file(),
    reason=f"fivetran-cli's venv is not built ({CLI_PYTHON}); run `make client-venvs`",
)


def fivetran(sim: FivetranSimulator, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``fivetran beta connection ARGS --output json`` against the simulator."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DO_NOT_TRACK": "1",
        "FIVETRAN_API_KEY": base64.b64encode(f"{KEY}:{SECRET}".encode()).decode(),
    }
    return subprocess.run(
        [str(CLI_PYTHON), str(DRIVER), sim.url, "beta", "connection", *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def answer(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@needs_cli
def test_fivetran_cli_reads_pauses_resumes_and_changes_the_frequency(
    sim: FivetranSimulator, tmp_path: Path
) -> None:
    sim.add_connection("conn_a", sync_frequency=360, config={"host": "db", "password": "pw"})
    read = answer(fivetran(sim, tmp_path, "get", "--connection-id", "conn_a"))
    assert read["data"]["id"] == "conn_a" and read["data"]["config"]["password"] == "******"

    update = ["update", "--connection-id", "conn_a", "--config"]
    paused = answer(fivetran(sim, tmp_path, *update, '{"paused": true, "run_setup_tests": false}'))
    assert paused["data"]["paused"] is True and sim.connection("conn_a")["paused"] is True
    resumed = answer(fivetran(sim, tmp_path, *update, '{"paused": false, "run_setup_tests": false}'))
    assert resumed["data"]["status"]["sync_state"] == "scheduled"
    changed = answer(fivetran(sim, tmp_path, *update, '{"sync_frequency": 60}'))
    assert changed["data"]["sync_frequency"] == 60 and sim.connection("conn_a")["sync_frequency"] == 60
    assert sim.setup_test_count("conn_a") == 1  # only the frequency change ran them

    synced = answer(fivetran(sim, tmp_path, "sync", "--connection-id", "conn_a"))
    assert synced["code"] == "Success"
    assert sim.connection("conn_a")["status"]["sync_state"] == "syncing"

    assert sim.request_count("GET", "/v1/connections/conn_a") == 1
    assert sim.request_count("PATCH", "/v1/connections/conn_a") == 3
    assert sim.request_count("POST", "/v1/connections/conn_a/sync") == 1
    # What the CLI sends: JSON without an API version, and no body for a sync.
    assert {item.headers["accept"] for item in sim.requests} == {"application/json"}
    assert sim.requests[-1].json is None and "content-type" not in sim.requests[-1].headers


@needs_cli
def test_fivetran_cli_pages_through_the_list_and_reports_errors(
    sim: FivetranSimulator, tmp_path: Path
) -> None:
    for index in range(130):
        sim.add_connection(f"conn_{index:03d}", group_id="g1" if index < 120 else "g2")
    listed = answer(fivetran(sim, tmp_path, "list", "--group-id", "g1"))
    assert [item["id"] for item in listed["data"]["items"]] == [f"conn_{index:03d}" for index in range(120)]
    assert sim.request_count("GET", "/v1/connections") == 2  # 100 + 20, following next_cursor

    refused = fivetran(
        sim, tmp_path, "update", "--connection-id", "conn_000", "--config", '{"paused": "yes"}'
    )
    assert refused.returncode == 1
    assert "Invalid value 'yes' for field 'paused'" in refused.stderr
    missing = fivetran(sim, tmp_path, "get", "--connection-id", "nope")
    assert missing.returncode == 1 and "Connection with id 'nope' doesn't exist" in missing.stderr
    assert sim.connection("conn_000")["paused"] is False


def test_the_driver_refuses_non_loopback_addresses(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(DRIVER), "https://api.fivetran.com", "beta", "connection", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "loopback" in result.stderr


# -- curl, with the request shapes of Fivetran's documented examples ----------------------------------

needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def curl(*args: str) -> tuple[int, dict[str, Any]]:
    assert CURL is not None
    result = subprocess.run(
        [CURL, "--silent", "--show-error", "--write-out", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


@needs_curl
def test_curl_runs_fivetrans_documented_requests(sim: FivetranSimulator) -> None:
    sim.add_connection("conn_a", schedule_type="manual")
    basic = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    auth = ["-H", f"Authorization: Basic {basic}"]
    versioned = ["-H", "Accept: application/json;version=2"]
    one = f"{sim.url}/v1/connections/conn_a"

    status, body = curl(*auth, *versioned, one)
    assert status == 200 and body["data"]["id"] == "conn_a"
    status, body = curl(
        "-X", "PATCH", *auth, *versioned, "-H", "Content-Type: application/json",
        "-d", '{"paused": false, "sync_frequency": 1440, "daily_sync_time": "14:00"}', one,
    )  # fmt: skip
    assert status == 200 and body["data"]["daily_sync_time"] == "14:00"
    status, body = curl("-X", "POST", *auth, f"{one}/sync")  # no body, no Accept
    assert status == 200 and sim.connection("conn_a")["status"]["sync_state"] == "syncing"
    status, body = curl(
        "-u", f"{KEY}:{SECRET}", "-H", "Content-Type: application/json", "-d", "{}", f"{one}/test"
    )
    assert status == 200 and body["message"] == "Setup tests have been completed"
    status, body = curl(
        *auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"scope": {"public": ["orders"]}}',
        f"{one}/resync",
    )
    assert status == 200
    status, body = curl(*auth, f"{sim.url}/v1/groups/sim_group/connections?limit=1")
    assert status == 200 and [item["id"] for item in body["data"]["items"]] == ["conn_a"]

    # curl -d without a Content-Type sends a form: Fivetran's OpenAPI only consumes JSON.
    status, body = curl("-X", "PATCH", *auth, "-d", '{"paused": true}', one)
    assert status == 415 and body["code"] == "UnsupportedMediaType"
    status, body = curl(*auth, "-H", "Accept: application/xml", one)
    assert status == 406 and body["code"] == "NotAcceptable"
    assert sim.connection("conn_a")["paused"] is False
    assert sim.request_count("PATCH", "/v1/connections/conn_a") == 2
    assert sim.request_count() == 8


# -- the simulator's own command line ----------------------------------------------------------------


def test_simulator_cli_options_reach_the_simulator() -> None:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "airflow_provider_fivetran_update.testing", "--port", "0", "--no-seed",
            "--setup-test-limits", "trial", "--historical-sync-start", "next_scheduled",
            "--setup-tests-seconds", "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "listening on" not in line:
            assert time.monotonic() < deadline and process.poll() is None, line
            line = process.stdout.readline()
        base = line.strip().rsplit(" ", 1)[1]
        assert requests.get(base + "/__admin/historical_sync_start", timeout=10).json() == {
            "mode": "next_scheduled"
        }
        assert requests.post(base + "/__admin/setup_tests", json={}, timeout=10).json() == {
            "seconds": 0.5,
            "limits": [[50, 3600.0]],
        }
    finally:
        process.terminate()
        process.wait(timeout=15)
