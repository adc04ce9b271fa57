"""The triggers' tests run on a ManualClock that the simulator shares (tests/clock_helpers.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.testing import ManualClock


@pytest.fixture
def fivetran_simulator_options(
    fivetran_simulator_options: dict[str, Any], clock: ManualClock
) -> dict[str, Any]:
    return {**fivetran_simulator_options, "clock": clock}  # triggers on `clock` share the simulator's time
