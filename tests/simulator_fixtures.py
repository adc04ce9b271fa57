"""Fixtures shared by the simulator's test modules: ``pytest_plugins = ["tests.simulator_fixtures"]``.

``clock`` (a :class:`ManualClock`), ``sim`` (a started simulator on that clock, with the
credentials of ``tests/simulator_credentials.py``) and ``api`` (a ``requests`` session that
authenticates and asks for version 2, as the provider does).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from airflow_provider_fivetran_update.testing import FivetranSimulator, ManualClock
from tests.simulator_credentials import ACCEPT, KEY, SECRET


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[FivetranSimulator]:
    with FivetranSimulator(api_key=KEY, api_secret=SECRET, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def api(sim: FivetranSimulator) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (KEY, SECRET)
        session.headers.update(ACCEPT)
        yield session
