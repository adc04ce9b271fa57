"""Sync a Fivetran connection now, wait for the sync to finish, then run what depends on the data.

The job: a manual-schedule connection (Airflow decides when it syncs) loads yesterday's ad spend
before a report is built. One task finds the connection by its name in its destination group,
asks Fivetran for a sync and waits, deferred to the triggerer (no worker slot is held), until a
sync has completed after the request. A failed sync fails the task at once with Fivetran's status
tasks and warnings; a paused or broken connection fails before anything is sent. The connection's
schedule is never changed.

A retry (or clearing the task) that finds the sync still running waits for it instead of asking
for another one. The task after it runs only once the data is loaded.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_fivetran_update.operators.fivetran import FivetranSyncConnectionOperator

with DAG(
    dag_id="example_fivetran_sync_and_wait",
    schedule=None,
    catchup=False,
    tags=["fivetran", "example"],
    params={
        "connection_name": Param("google_ads", type="string"),
        "group_id": Param("sim_group", type="string"),
    },
    doc_md=__doc__,
):
    sync = FivetranSyncConnectionOperator(
        task_id="sync_and_wait",
        connection_name="{{ params.connection_name }}",
        group_id="{{ params.group_id }}",
        deferrable=True,
        poll_interval=2,  # seconds; a minute suits most real syncs
        timeout=2 * 60 * 60,
    )

    @task
    def build_report(connection: dict[str, Any]) -> None:
        """The operator returns the connection as it was when the sync ended (secrets masked)."""
        outcome = connection["sync"]
        print(
            f"Sync of {connection['id']} {outcome['status']} at {outcome['succeeded_at']}; "
            "building the report."
        )

    build_report(sync.output)
