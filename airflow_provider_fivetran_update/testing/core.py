"""The simulator's core: everything one simulated Fivetran account holds, without HTTP or a server.

Both the public :class:`~.simulator.FivetranSimulator` and the ASGI app (:mod:`.app`) work on a
:class:`SimulatorCore`, so neither needs the other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow_provider_fivetran_update.testing.faults import (
    FaultQueue,
    RateLimiter,
    RequestLog,
    SetupTestLimiter,
    SetupTestLimits,
)
from airflow_provider_fivetran_update.testing.model import SimulatorState, TimeSource

__all__ = ["DEMO_CONNECTIONS", "SimulatorCore"]

DEMO_CONNECTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "warehouse_orders",
        {
            "service": "postgres",
            "schema": "orders",
            "config": {
                "host": "orders-db.internal",
                "port": 5432,
                "database": "orders",
                "user": "fivetran",
                "password": "demo-postgres-password",
                "update_method": "XMIN",
            },
        },
    ),
    (
        "crm_salesforce",
        {
            "service": "salesforce",
            "schema": "salesforce",
            "paused": True,
            "sync_frequency": 60,
            "config": {"is_sandbox": False},
            "auth": {"client_access": {"client_id": "demo-client", "client_secret": "demo-secret"}},
        },
    ),
    (
        "ads_manual",
        {
            "service": "google_ads",
            "schema": "google_ads",
            "schedule_type": "manual",
            "sync_frequency": 1440,
            "daily_sync_time": "03:00",
            "config": {"customer_id": "123-456-7890", "api_key": "demo-google-ads-key"},
        },
    ),
    (
        "legacy_mysql",
        {
            "service": "mysql",
            "schema": "legacy_shop",
            "setup_state": "broken",
            "broken": True,
            "fail_historical_sync": True,
            "config": {"host": "legacy.internal", "port": 3306, "user": "etl", "password": "old-pw"},
        },
    ),
)
"""The connections :meth:`SimulatorCore.seed_demo` adds, with :meth:`SimulatorState.add` arguments."""


class SimulatorCore:
    """The credentials, settings, state, clock, faults, limiters and request log of one simulator.

    The parameters are those of :class:`~.simulator.FivetranSimulator` with the same names.
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        clock: TimeSource | None,
        historical_sync_seconds: float,
        sync_seconds: float,
        setup_tests_seconds: float,
        setup_test_limits: SetupTestLimits,
        schedule_scale: float | None,
        historical_sync_start: str,
        legacy_connectors_path: bool,
    ) -> None:
        if setup_tests_seconds < 0:
            raise ValueError("setup_tests_seconds must be >= 0.")
        self.api_key = api_key
        self.api_secret = api_secret
        self.setup_tests_seconds = setup_tests_seconds
        self.legacy_connectors_path = legacy_connectors_path
        self.state = SimulatorState(
            clock=clock,
            historical_sync_seconds=historical_sync_seconds,
            sync_seconds=sync_seconds,
            schedule_scale=schedule_scale,
            historical_sync_start=historical_sync_start,
        )
        self.faults = FaultQueue()
        self.rate_limiter = RateLimiter()
        self.setup_test_limiter = SetupTestLimiter()
        self.setup_test_limiter.configure(setup_test_limits)
        # Kept so that reset() goes back to the limits the simulator was built with.
        self._setup_test_limits = setup_test_limits
        self.request_log = RequestLog()
        self._seeded = False

    def now(self) -> datetime:
        """The simulated time."""
        return datetime.fromtimestamp(self.state.now(), UTC)

    def advance(self, seconds: float) -> datetime:
        """Move the simulated time forward and return it."""
        return datetime.fromtimestamp(self.state.advance(seconds), UTC)

    def seed_demo(self) -> list[str]:
        """Add :data:`DEMO_CONNECTIONS` and return their ids."""
        for connection_id, options in DEMO_CONNECTIONS:
            self.state.add(connection_id, **options)
        self._seeded = True
        return [connection_id for connection_id, _ in DEMO_CONNECTIONS]

    def reset(self, *, seed: bool | None = None) -> None:
        """Remove every connection, fault, limit and recorded request; reseed as ``seed`` says."""
        reseed = self._seeded if seed is None else seed
        self.state.clear()
        self.faults.clear()
        self.rate_limiter.configure(None)
        self.setup_test_limiter.configure(self._setup_test_limits)
        self.request_log.clear()
        self._seeded = False
        if reseed:
            self.seed_demo()
