"""Pause Fivetran connections around a maintenance window, then resume them.

The job: a source database goes down for maintenance. Before it does, pause every Fivetran
connection that reads from it and wait until Fivetran reports them paused; after the work,
unpause them and wait until they are scheduled again.

The unpause and the final wait are teardown tasks: they run even when the maintenance fails,
and the DAG run still ends ``failed`` in that case, because Airflow judges the run by the work
task rather than by its teardowns.

Trigger it with other ids: ``airflow dags trigger example_fivetran_maintenance
--conf '{"connection_ids": ["my_conn_a", "my_conn_b"]}'``.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, task

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor

with DAG(
    dag_id="example_fivetran_maintenance",
    schedule=None,
    catchup=False,
    tags=["fivetran", "example"],
    params={
        "connection_ids": Param(
            ["warehouse_orders", "ads_manual"],
            type="array",
            description="Fivetran connection ids to pause during the maintenance.",
        ),
        "fail_maintenance": Param(False, type="boolean", description="Make the maintenance fail."),
    },
    doc_md=__doc__,
):

    @task
    def connection_ids(params: dict[str, object]) -> list[str]:
        ids = params["connection_ids"]
        assert isinstance(ids, list)
        return [str(connection_id) for connection_id in ids]

    ids = connection_ids()

    pause = FivetranUpdateConnectionOperator.partial(task_id="pause", paused=True).expand(connection_id=ids)

    wait_paused = FivetranConnectionStateSensor.partial(
        task_id="wait_paused",
        expected_setup_state=None,
        expected_sync_state="paused",
        poke_interval=2,
        timeout=600,
    ).expand(connection_id=ids)

    @task
    def maintenance(params: dict[str, object]) -> None:
        """Stand-in for the real work: a database upgrade, a schema migration, ..."""
        if params["fail_maintenance"]:
            raise RuntimeError("The maintenance failed (fail_maintenance was set).")

    unpause = FivetranUpdateConnectionOperator.partial(task_id="unpause", paused=False).expand(
        connection_id=ids
    )

    wait_running = FivetranConnectionStateSensor.partial(
        task_id="wait_running",
        expected_setup_state="connected",
        expected_sync_state=["scheduled", "syncing"],
        poke_interval=2,
        timeout=600,
    ).expand(connection_id=ids)

    work = maintenance()
    pause >> wait_paused >> work >> unpause >> wait_running
    # Both resume steps run whatever happened to the work, and a failed resume fails the run.
    unpause.as_teardown(setups=pause, on_failure_fail_dagrun=True)
    wait_running.as_teardown(on_failure_fail_dagrun=True)
