"""Infrastructure smoke DAG for the deployment test (not an example for users).

Proves the moving parts without the provider's code: mapped Python tasks on the Celery workers,
a deferrable sensor that waits in the triggerer, and Airflow's masking of a connection password
in task logs. When it passes and an example DAG fails, the provider is to blame, not the setup.
"""

from __future__ import annotations

import time

from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG, BaseHook


def _work(item: int) -> int:
    time.sleep(1)
    return item


def _touch_connection() -> None:
    conn = BaseHook.get_connection("fivetran_default")
    # Printed on purpose: the deployment test asserts the secret never reaches a log file.
    print(f"connection host={conn.host} password={conn.password}")


with DAG(dag_id="deploy_smoke", schedule=None, catchup=False, tags=["deployment-test"]):
    work = PythonOperator.partial(task_id="work", python_callable=_work).expand(op_args=[[1], [2]])
    touch = PythonOperator(task_id="touch_connection", python_callable=_touch_connection)
    wait = DateTimeSensorAsync(
        task_id="wait",
        target_time=(
            "{{ (macros.datetime.utcnow() + macros.timedelta("
            "seconds=dag_run.conf.get('wait_seconds', 5) | int)).isoformat() }}Z"
        ),
    )
    done = PythonOperator(task_id="done", python_callable=lambda: print("waited"))
    work >> touch >> wait >> done
