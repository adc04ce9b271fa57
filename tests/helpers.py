"""Plain helpers the test modules share (fixtures live in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from airflow_provider_fivetran_update.testing import FivetranSimulator

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout: this file is ``<repo>/tests/helpers.py`` whatever the depth of the test using it."""

SHARED_FIVETRAN = REPO_ROOT.parent / "shared" / "fivetran"
"""Fivetran's documents, read-only, beside the worktree (``/work/shared/fivetran``)."""

KEY, SECRET = "test-key", "test-secret-value"
"""The credentials the simulator's own tests give it (``tests/testing/conftest.py``)."""

ACCEPT = {"Accept": "application/json;version=2"}

FAST_RETRIES = {"retry_min_wait": 0.01, "retry_max_wait": 0.05}
"""Hook retry waits short enough for a test, where the wait itself is not under test."""


def patches(sim: FivetranSimulator, connection_id: str) -> list[Any]:
    """The bodies of the PATCH requests ``sim`` received for one connection, in order."""
    path = f"/v1/connections/{connection_id}"
    return [request.json for request in sim.requests if request.method == "PATCH" and request.path == path]


def point_airflow_at(sim: FivetranSimulator, monkeypatch: pytest.MonkeyPatch) -> FivetranSimulator:
    """Airflow's ``fivetran_default`` points at ``sim`` until the test ends (what ``sim`` does)."""
    for name, value in sim.airflow_env().items():
        monkeypatch.setenv(name, value)
    return sim
