"""Plain helpers the test modules share (fixtures live in ``tests/conftest.py``).

``tests/conftest.py`` imports this module before it sets up the test AIRFLOW_HOME: nothing here
imports Airflow (or the provider's hook) at module level.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pytest

    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
    from airflow_provider_fivetran_update.testing import FivetranSimulator

T = TypeVar("T")

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


def make_hook(**kwargs: Any) -> FivetranHook:
    """A FivetranHook with short timeouts and retry waits; ``kwargs`` override them."""
    from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

    options: dict[str, Any] = {"timeout": 5.0, "connect_timeout": 5.0, "max_retries": 3, **FAST_RETRIES}
    options.update(kwargs)
    return FivetranHook(**options)


def run_async(hook: FivetranHook, call: Callable[[], Awaitable[T]]) -> T:
    """Run one async hook call on a fresh loop, closing the hook's client on that loop."""

    async def main() -> T:
        try:
            return await call()
        finally:
            await hook.aclose()

    return asyncio.run(main())


def settle(sim: FivetranSimulator, method: str | None, path: str | None, expected: int) -> int:
    """The request count once it reaches ``expected`` (or 3 s have passed), after a call returned.

    The simulator logs a request as its answer starts, and a dropped one before it closes the
    connection, so by the time a call has returned every request it sent is in the log, but one
    the client gave up on during a ``delay`` fault: that one is logged when the server notices,
    which this waits for. A request more than expected is therefore already counted.
    """
    deadline = time.monotonic() + 3
    while sim.request_count(method, path) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return sim.request_count(method, path)


TRIGGERER_NOISE = (
    "Task exception was never retrieved",
    "asynchronous generator is already running",
    "no running event loop",
    "cancel scope",
    "Exception ignored",
    "error occurred during closing of asynchronous generator",
)
"""What a trigger that yields inside its reader leaves in a user's log when the runner drops it."""


def when(condition: Callable[[], bool], action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` in a thread once ``condition`` holds (a DAG run is going on meanwhile)."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def logged(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    """What a ``dag.test()`` run logged: the captured log records and its tasks' stdout and stderr."""
    return caplog.text + "".join(capfd.readouterr())
