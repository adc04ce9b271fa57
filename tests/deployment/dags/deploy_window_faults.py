"""Maintenance-window fault DAGs for the deployment test (not examples for users).

Each DAG has Fivetran connections of its own (seeded by ``window_scenarios.py``), so the
simulator's request log can be held to exactly what each case should send.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta

from airflow.sdk import DAG, BaseHook, task

from airflow_provider_fivetran_update.maintenance import fivetran_maintenance_window

TAGS = ["deployment-test"]
# One try per request: a refused resume fails the restore at once.
WINDOW = {"poll_interval": 1, "timeout": 120, "max_retries": 0}


@task
def long_work() -> None:
    """Outlives the run: the scheduler times it out, or a person marks the run failed."""
    time.sleep(600)


@task
def refuse_the_next_resumes() -> None:
    """Make Fivetran refuse the next two unpauses (the restore's, then the failure callback's)."""
    host = BaseHook.get_connection("fivetran_default").host
    body = {"n": 2, "status": 403, "method": "PATCH", "path": "/v1/connections/deploy_window_refused"}
    request = urllib.request.Request(
        f"{host}/__admin/faults",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


@task
def quick_work() -> None:
    print("maintenance done")


TIMEOUT = timedelta(seconds=45)

with (
    DAG(dag_id="deploy_window_timeout", schedule=None, catchup=False, tags=TAGS, dagrun_timeout=TIMEOUT),
    fivetran_maintenance_window(["deploy_window_timeout_a", "deploy_window_timeout_b"], **WINDOW),
):
    long_work()

with (
    DAG(dag_id="deploy_window_marked_failed", schedule=None, catchup=False, tags=TAGS),
    fivetran_maintenance_window(["deploy_window_marked"], **WINDOW),
):
    long_work()

with (
    DAG(dag_id="deploy_window_restore_fails", schedule=None, catchup=False, tags=TAGS),
    fivetran_maintenance_window(["deploy_window_refused"], **WINDOW),
):
    refuse_the_next_resumes()

# The simulator holds back the pause's answer; the scheduler is restarted and the worker killed
# long before it (or the request timeout) comes.
with (
    DAG(dag_id="deploy_window_worker_killed", schedule=None, catchup=False, tags=TAGS),
    fivetran_maintenance_window(["deploy_window_killed"], poll_interval=1, timeout=120, request_timeout=150),
):
    quick_work()
