"""pytest fixtures for the Fivetran API simulator. Opt in from a project's top ``conftest.py``::

    pytest_plugins = ["airflow_provider_fivetran_update.testing.pytest_plugin"]

It is not an auto-loaded (``pytest11``) plugin: that would register these fixtures in every pytest
session of every project that installs the provider, and make the line above fail there with
"Plugin already registered". It imports nothing heavy at module level: the simulator (uvicorn,
Starlette, Airflow) is imported inside the fixtures.

Fixtures:

* ``fivetran_simulator``: a started :class:`~.simulator.FivetranSimulator` per test, stopped after.
  Override ``fivetran_simulator_options`` (a dict of constructor arguments) to configure it.
* ``fivetran_airflow_conn``: the same simulator, with ``AIRFLOW_CONN_FIVETRAN_DEFAULT`` pointing
  Airflow's ``fivetran_default`` connection at it for the duration of the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.testing.simulator import FivetranSimulator


@pytest.fixture
def fivetran_simulator_options() -> dict[str, Any]:
    """Constructor arguments for ``fivetran_simulator``; override this fixture to change them."""
    return {}


@pytest.fixture
def fivetran_simulator(fivetran_simulator_options: dict[str, Any]) -> Iterator[FivetranSimulator]:
    """A running Fivetran API simulator on a free loopback port, with no connections."""
    from airflow_provider_fivetran_update.testing.simulator import FivetranSimulator

    with FivetranSimulator(**fivetran_simulator_options) as simulator:
        yield simulator


@pytest.fixture
def fivetran_airflow_conn(
    fivetran_simulator: FivetranSimulator, monkeypatch: pytest.MonkeyPatch
) -> FivetranSimulator:
    """The running simulator, with Airflow's ``fivetran_default`` connection pointing at it."""
    for name, value in fivetran_simulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    return fivetran_simulator
