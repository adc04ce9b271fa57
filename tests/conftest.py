"""Test-session setup and the fixtures every test module shares.

A private, throw-away AIRFLOW_HOME with a migrated SQLite database (``airflow_db``): the
environment is set at import time, before any test module imports Airflow, so no test ever
touches a real Airflow installation. Nothing here talks to anything but loopback.

The simulator: ``sim`` (a started :class:`FivetranSimulator`, Airflow's ``fivetran_default``
pointing at it; ``@pytest.mark.simulator(...)`` on a test or its module gives its constructor
arguments), ``clock`` (a :class:`ManualClock`) and ``api`` (a ``requests`` session with the
simulator's credentials and the Accept header the provider sends). Plain helpers are in
``tests/helpers.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import ACCEPT, REPO_ROOT

if TYPE_CHECKING:
    import requests

    from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock

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


@pytest.fixture
def fivetran_simulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The arguments of ``@pytest.mark.simulator(...)``, the test's own over its module's."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("simulator"))):
        options.update(marker.kwargs)
    return options


@pytest.fixture
def sim(request: pytest.FixtureRequest, fivetran_airflow_conn: FivetranSimulator) -> FivetranSimulator:
    """The test's simulator, ``fivetran_default`` pointing at it; Airflow's DB for an ``airflow`` test."""
    if request.node.get_closest_marker("airflow"):
        request.getfixturevalue("airflow_db")
    return fivetran_airflow_conn


@pytest.fixture
def clock() -> ManualClock:
    from airflow_provider_fivetran_update.testing import ManualClock

    return ManualClock()


@pytest.fixture
def api(sim: FivetranSimulator) -> Iterator[requests.Session]:
    """A session that authenticates to ``sim`` and asks for version 2, as the provider does."""
    import requests

    with requests.Session() as session:
        session.auth = (sim.api_key, sim.api_secret)
        session.headers.update(ACCEPT)
        yield session


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
