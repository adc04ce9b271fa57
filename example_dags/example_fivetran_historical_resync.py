"""Re-sync a connection's full history and wait for Fivetran to finish.

The job: a source table was repaired upstream and every row must be loaded again. The first task
asks Fivetran for a historical sync; the sensor then waits, deferred to the triggerer (no worker
slot is held), until the connection is back to ``scheduled`` after the sync.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor

with DAG(
    dag_id="example_fivetran_historical_resync",
    schedule=None,
    catchup=False,
    tags=["fivetran", "example"],
    params={"connection_id": Param("warehouse_orders", type="string")},
    doc_md=__doc__,
):
    resync = FivetranUpdateConnectionOperator(
        task_id="start_historical_sync",
        connection_id="{{ params.connection_id }}",
        is_historical_sync=True,
    )
    wait = FivetranConnectionStateSensor(
        task_id="wait_for_resync",
        connection_id="{{ params.connection_id }}",
        expected_setup_state="connected",
        expected_sync_state="scheduled",
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )
    resync >> wait
