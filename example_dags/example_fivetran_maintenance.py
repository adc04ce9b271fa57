"""Pause Fivetran connections around a maintenance window, then restore them as they were.

The job: a source database goes down for maintenance. Before it does, pause every Fivetran
connection that reads from it and wait until Fivetran reports them paused; after the work, unpause
the ones that were running and wait until they are scheduled again. A connection that was already
paused before the window (``crm_salesforce`` in the demo) stays paused and gets no request but
the first read.

``fivetran_maintenance_window`` builds that around the tasks of its ``with`` block: ``record``
reads each connection once, ``pause`` (a setup task) and ``wait_paused`` run before the work,
``restore`` (a teardown task) after it. The restore runs even when the maintenance fails, and the
DAG run still ends ``failed`` in that case, because Airflow judges the run by the work rather than
by its teardowns.

Trigger it with other ids: ``airflow dags trigger example_fivetran_maintenance
--conf '{"connection_ids": ["my_conn_a", "my_conn_b"]}'``.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_fivetran_update.maintenance import fivetran_maintenance_window

with DAG(
    dag_id="example_fivetran_maintenance",
    schedule=None,
    catchup=False,
    tags=["fivetran", "example"],
    params={
        "connection_ids": Param(
            ["warehouse_orders", "crm_salesforce", "ads_manual"],
            type="array",
            description="Fivetran connection ids to pause during the maintenance.",
        ),
        "fail_maintenance": Param(False, type="boolean", description="Make the maintenance fail."),
    },
    render_template_as_native_obj=True,  # "{{ params.connection_ids }}" renders to a list
    doc_md=__doc__,
):

    @task
    def maintenance(params: dict[str, object]) -> None:
        """Stand-in for the real work: a database upgrade, a schema migration, ..."""
        if params["fail_maintenance"]:
            raise RuntimeError("The maintenance failed (fail_maintenance was set).")

    with fivetran_maintenance_window("{{ params.connection_ids }}", poll_interval=2, timeout=600):
        maintenance()
