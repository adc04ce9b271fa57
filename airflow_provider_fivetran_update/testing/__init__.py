"""An offline Fivetran API simulator for tests, demos and users' own DAG tests.

``from airflow_provider_fivetran_update.testing import FivetranSimulator``. The names are loaded on
first use, so importing this package (as the pytest plugin does in every session) stays cheap and
pulls in neither uvicorn, Starlette nor Airflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.testing.faults import Fault, RecordedRequest
    from airflow_provider_fivetran_update.testing.model import ManualClock
    from airflow_provider_fivetran_update.testing.simulator import FivetranSimulator

__all__ = ["Fault", "FivetranSimulator", "ManualClock", "RecordedRequest"]

_HOMES = {
    "Fault": "airflow_provider_fivetran_update.testing.faults",
    "FivetranSimulator": "airflow_provider_fivetran_update.testing.simulator",
    "ManualClock": "airflow_provider_fivetran_update.testing.model",
    "RecordedRequest": "airflow_provider_fivetran_update.testing.faults",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
