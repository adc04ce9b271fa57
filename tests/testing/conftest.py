"""The simulator's own tests run it on the test's manual clock, with the credentials they send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import KEY, SECRET

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.testing import ManualClock


@pytest.fixture
def fivetran_simulator_options(
    fivetran_simulator_options: dict[str, Any], clock: ManualClock
) -> dict[str, Any]:
    return {"api_key": KEY, "api_secret": SECRET, "clock": clock, **fivetran_simulator_options}
