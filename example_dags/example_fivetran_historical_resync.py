"""Re-sync a connection's full history and wait for Fivetran to finish.

The job: a source table was repaired upstream and every row must be loaded again. One task asks
Fivetran for a historical sync and waits, deferred to the triggerer (no worker slot is held),
until that sync has ended: it succeeds when Fivetran reports the sync succeeded, and fails at once,
with Fivetran's status tasks and warnings in the error, when the sync failed.

A retry of the task (or clearing it by hand) never starts a second historical sync while the first
is still pending or running: it waits for that one instead. The task after it runs only once the
data is complete, so it is where a downstream refresh would go; here it just reports.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator

with DAG(
    dag_id="example_fivetran_historical_resync",
    schedule=None,
    catchup=False,
    tags=["fivetran", "example"],
    params={"connection_id": Param("warehouse_orders", type="string")},
    doc_md=__doc__,
):
    resync = FivetranUpdateConnectionOperator(
        task_id="resync_and_wait",
        connection_id="{{ params.connection_id }}",
        is_historical_sync=True,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=2,  # seconds; a minute or more suits a real historical sync
        timeout=6 * 60 * 60,
    )

    @task
    def report(connection: dict[str, Any]) -> None:
        """The operator returns the connection as it was when the sync ended (secrets masked)."""
        print(
            f"Historical sync of {connection['id']} succeeded at {connection['succeeded_at']}; "
            f"sync_state is now {connection['status']['sync_state']}."
        )

    report(resync.output)
