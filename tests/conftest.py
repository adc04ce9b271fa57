"""Test-session setup: a private, throw-away AIRFLOW_HOME with a migrated SQLite database.

The environment is set at import time, before any test module imports Airflow, so no test ever
touches a real Airflow installation. Nothing here talks to anything but loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

# The simulator's fixtures, as a user's project opts in to them (docs/testing-your-dags.md).
pytest_plugins = ["airflow_provider_fivetran_update.testing.pytest_plugin"]

EXAMPLE_DAGS = REPO_ROOT / "example_dags"

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="fivetran-provider-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE_DAGS)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.pop("AIRFLOW_CONN_FIVETRAN_DEFAULT", None)


@pytest.fixture(scope="session", autouse=True)
def _airflow_log_levels() -> None:
    from tests.airflow_helpers import hide_task_runner_debug_logs

    hide_task_runner_debug_logs()


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """Migrate the SQLite metadata DB of the test AIRFLOW_HOME once per session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    yield Path(_AIRFLOW_HOME)


# Tests that depend on the Airflow version without running a DAG (connection reads from the hook
# and the triggers), as paths under tests/ (a file, or a folder and everything in it):
# `make test-compat` runs them, with the `airflow` tests, on the releases between the lowest
# supported one and the latest.
_COMPAT_PATHS = (Path("hooks/test_hook.py"), Path("triggers"))
_TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve()
        if any(path.is_relative_to(_TESTS / compat) for compat in _COMPAT_PATHS):
            item.add_marker(pytest.mark.compat)


@pytest.fixture(autouse=True)
def _forget_secrets_after_each_test() -> Iterator[None]:
    from tests.airflow_helpers import forgetting_secrets

    with forgetting_secrets():
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
