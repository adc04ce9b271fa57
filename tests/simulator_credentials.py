"""The credentials and Accept header the simulator's tests use (fixtures: ``tests/simulator_fixtures.py``)."""

from __future__ import annotations

KEY, SECRET = "test-key", "test-secret-value"
ACCEPT = {"Accept": "application/json;version=2"}
