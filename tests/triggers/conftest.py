"""The triggers' tests run on a ManualClock that the simulator shares (tests/clock_helpers.py)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_fivetran_update.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fivetran_simulator_options(clock: ManualClock) -> dict[str, Any]:
    return {"clock": clock}  # the triggers that run on `clock` share the simulator's time
