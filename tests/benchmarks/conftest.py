"""Fixtures of the benchmark smoke tests: the benchmark modules on sys.path, a simulator, sides.

The benchmark modules are scripts as much as modules (each side's child process runs them by path
with its own interpreter), so they import each other by plain name from this folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

ASTRO_PYTHON = HERE.parent.parent / ".bench" / "astro" / "bin" / "python"


@pytest.fixture
def bench_sim() -> Iterator[Any]:
    """A simulator that also serves the legacy /v1/connectors paths the astronomer hooks call."""
    from airflow_provider_fivetran_update.testing import FivetranSimulator

    with FivetranSimulator(legacy_connectors_path=True, historical_sync_seconds=1.0) as sim:
        yield sim


# `make test` tests this project only; `make bench-smoke` adds the baseline's side.
_SIDES = ["ours", "astro"] if os.environ.get("BENCH_SMOKE_BASELINE") == "1" else ["ours"]


@pytest.fixture(params=_SIDES)
def side(request: pytest.FixtureRequest) -> Any:
    """Our side; with BENCH_SMOKE_BASELINE=1 also the baseline, from the venv `make bench` builds."""
    from benchlib import Side

    if request.param == "astro":
        if not ASTRO_PYTHON.exists():
            pytest.fail("the baseline venv .bench/astro is missing: run `make bench-smoke`")
        return Side("astro", str(ASTRO_PYTHON))
    return Side("ours", sys.executable)


@pytest.fixture
def template_db(airflow_db: Path) -> str:
    """The test session's migrated metadata DB, copied (never shared) by the benchmarks that need one."""
    return str(airflow_db / "airflow.db")
