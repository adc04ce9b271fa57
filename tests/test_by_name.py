"""Operators and sensors named by ``connection_name`` + ``group_id`` (by_name.py), under real Airflow.

The name is resolved when the task runs, from one filtered listing of the group's connections.
"""

from __future__ import annotations

import pytest

from airflow_provider_fivetran_update.links import DASHBOARD_URL_XCOM_KEY
from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import new_dag, run_dag, task_states, xcom

pytestmark = pytest.mark.airflow


def test_update_operator_and_state_sensor_by_name(sim: FivetranSimulator) -> None:
    sim.add_connection("crm_eu", group_id="eu", schema="crm")
    sim.add_connection("crm_us", group_id="us", schema="crm")
    with new_dag("by_name") as dag:
        pause = FivetranUpdateConnectionOperator(
            task_id="pause",
            connection_name="crm",
            group_id="{{ params.group }}",
            params={"group": "us"},
            paused=True,
        )
        paused = FivetranConnectionStateSensor(
            task_id="paused",
            connection_name="crm",
            group_id="us",
            expected_sync_state="paused",
            poke_interval=1,
        )
        pause >> paused
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {("pause", -1): "success", ("paused", -1): "success"}
    assert [r.path for r in sim.requests if r.method == "PATCH"] == ["/v1/connections/crm_us"]
    assert sim.connection("crm_us")["paused"] is True and sim.connection("crm_eu")["paused"] is False
    # One filtered listing per task, resolved when it ran.
    assert sim.request_count(method="GET", path="/v1/groups/us/connections") == 2
    assert xcom(dag_run, "paused")["connection_id"] == "crm_us"
    assert xcom(dag_run, "pause", key=DASHBOARD_URL_XCOM_KEY).endswith("/connections/crm_us/status")
