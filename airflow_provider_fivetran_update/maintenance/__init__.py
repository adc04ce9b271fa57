"""Pause Fivetran connections around a piece of work, then restore them exactly as they were.

:func:`fivetran_maintenance_window` is a context manager. The tasks created inside its block are
the *work*; the window adds a task group around them:

.. code-block:: text

    fivetran_maintenance
      record (setup) ──> pause[i] (setup) ──> wait_paused[i] ──> <the work> ──> restore[i] (teardown)

* ``record`` reads each connection once (``GET``) and returns, by XCom, ``[{"connection_id",
  "paused", "sync_state"}, ...]``: no ``config``, no ``auth``, nothing secret. A connection the
  durable record holds (paused by this run already, or stranded by an earlier run) counts as
  running, so it is resumed at the end.
* ``pause`` (one mapped task per connection, an Airflow *setup* task) writes the connection's
  entry in the durable record, then pauses it (``PATCH {"paused": true}``); it leaves the
  connections that were paused before alone and sends nothing for them.
* ``wait_paused`` (mapped) waits until Fivetran reports ``sync_state == "paused"``. The pause's own
  answer usually says so already, so it usually sends nothing.
* ``restore`` (mapped, an Airflow *teardown* task that fails the run when it fails) runs after the
  work whatever happened to it and to the pauses, resumes every connection that was running before
  (``PATCH {"paused": false}``; one that was never paused costs that request and nothing changes),
  waits until it is ``scheduled``, ``syncing`` or ``rescheduled``, then deletes its entry.

The durable record (:mod:`.ledger`) is one Airflow Variable per paused connection, written before
the pause is sent and deleted once the connection runs again. The window also adds a DAG-run
failure callback that resumes what the run still holds when Airflow fails the run without running
its teardowns (``dagrun_timeout``). What is left after anything else (a restore that kept failing)
is resumed by the next run of any window covering the connection, or by hand:
:class:`FivetranResumeStrandedOperator` in a one-task DAG, or ``python -m
airflow_provider_fivetran_update.maintenance --list-stranded`` / ``--resume-stranded [--apply]``.

Per connection that is one ``GET`` and, if it was running, two ``PATCH`` requests; waits add a
``GET`` per poll only when an answer did not already show the state. The DAG run still ends
``failed`` when the work fails (Airflow judges the run by the work, not by teardowns), and a restore
that fails fails the run too.

Example::

    from datetime import datetime

    from airflow.sdk import DAG, task

    from airflow_provider_fivetran_update.maintenance import fivetran_maintenance_window

    with DAG("db_upgrade", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def upgrade_database() -> None:
            ...  # the connections do not sync while this runs

        @task
        def announce() -> None:
            ...  # runs once the connections are restored

        with fivetran_maintenance_window(["orders_pg", "billing_pg"], poll_interval=10) as window:
            upgrade_database()
        window >> announce()

The ids may also be a Jinja template (``"{{ params.connection_ids }}"``; it may render to a list,
a JSON list or a comma-separated string) or an upstream task's ``XComArg``; the mapped tasks scale
to hundreds of connections. See docs/maintenance-window.md for every failure and how it ends.
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
