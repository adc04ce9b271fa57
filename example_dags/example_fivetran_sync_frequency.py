"""Sync often during business hours and rarely at night.

The job: Fivetran bills and loads by activity, and nobody reads the dashboards at night. This
DAG runs at 07:00 and 19:00 UTC and sets ``sync_frequency`` from the run's logical date: every
hour during the day, every six hours at night. The value is a Jinja template; the operator turns
the rendered string into the integer Fivetran expects and checks it is an allowed frequency
before sending anything.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator

with DAG(
    dag_id="example_fivetran_sync_frequency",
    schedule="0 7,19 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fivetran", "example"],
    params={
        "connection_id": Param("warehouse_orders", type="string"),
        "business_hours_frequency": Param(60, type="integer"),
        "night_frequency": Param(360, type="integer"),
    },
    doc_md=__doc__,
):
    FivetranUpdateConnectionOperator(
        task_id="set_sync_frequency",
        connection_id="{{ params.connection_id }}",
        sync_frequency=(
            "{{ params.business_hours_frequency if 7 <= logical_date.hour < 19 else params.night_frequency }}"
        ),
    )
