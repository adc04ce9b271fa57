"""Pause Fivetran connections around a piece of work, then restore them exactly as they were.

:func:`fivetran_maintenance_window` is a context manager: the tasks created inside its block are
the work, and the window adds a task group around them (``record`` and ``pause`` setups,
``wait_paused``, a ``restore`` teardown). A durable record (:mod:`.ledger`, one Airflow Variable
per paused connection) and a DAG-run failure callback make sure no connection stays paused;
what is left is resumed by the next window or by :class:`FivetranResumeStrandedOperator` and
``python -m airflow_provider_fivetran_update.maintenance``. How it works: docs/architecture.md;
every failure and how it ends, with an example: docs/maintenance-window.md.
"""

from __future__ import annotations

from airflow_provider_fivetran_update.maintenance.recovery import FivetranResumeStrandedOperator
from airflow_provider_fivetran_update.maintenance.window import (
    RUNNING_SYNC_STATES,
    fivetran_maintenance_window,
    parse_connection_ids,
)

__all__ = [
    "RUNNING_SYNC_STATES",
    "FivetranResumeStrandedOperator",
    "fivetran_maintenance_window",
    "parse_connection_ids",
]
