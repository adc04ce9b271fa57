"""Child process: run DAGs with ``dag.test()`` and report each run's state and task-instance states.

``python bench_dagtest.py --dag-id a --dag-id b`` in a side's venv, with AIRFLOW_HOME holding a
migrated SQLite database, AIRFLOW__CORE__DAGS_FOLDER holding the DAG files, and
AIRFLOW_CONN_FIVETRAN_DEFAULT pointing at the simulator. Used by the quota and load benchmarks; it
imports Airflow once for all DAGs. Standard library plus Airflow only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import cpu_seconds, emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dag-id", action="append", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, force=True)

    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    runs: dict[str, Any] = {}
    for dag_id in args.dag_id:
        dag = bag.get_dag(dag_id)
        if dag is None:
            raise SystemExit(f"no DAG {dag_id!r} in {os.environ['AIRFLOW__CORE__DAGS_FOLDER']}")
        started, cpu0 = time.monotonic(), cpu_seconds()
        dag_run = dag.test()
        elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu0
        states: Counter[str] = Counter()
        failed: list[str] = []
        for ti in dag_run.get_task_instances():
            state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
            states[state] += 1
            if state != "success" and len(failed) < 5:
                failed.append(f"{ti.task_id}[{ti.map_index}]={state}")
        runs[dag_id] = {
            "state": str(getattr(dag_run.state, "value", dag_run.state)),
            "task_states": dict(states),
            "not_success_samples": failed,
            "elapsed_s": elapsed,
            "cpu_s": cpu,
        }
    emit({"runs": runs})


if __name__ == "__main__":
    main()
