"""Run a DAG built in a test under real Airflow and read back what Airflow stored.

Airflow 3.3's ``dag.test()`` only runs DAGs it finds serialized, so :func:`run_dag` first writes
the DAG to the test metadata DB, as the DAG processor would. The readers query the same DB.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

_dag_counter = itertools.count()


def unique_dag_id(name: str) -> str:
    """A DAG id no earlier test used, so no state (TIs, XComs) of another run can leak in."""
    return f"{name}_{next(_dag_counter)}_{int(time.time() * 1000)}"


def serialize_dag(dag: Any) -> None:
    """Write ``dag`` to the metadata DB, as the DAG processor would."""
    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[no-redef,attr-defined]
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def run_dag(dag: Any, **test_kwargs: Any) -> Any:
    """Serialize ``dag`` and run it with ``dag.test(**test_kwargs)``; return the DagRun."""
    serialize_dag(dag)
    return dag.test(**test_kwargs)


def task_states(dag_run: Any) -> dict[tuple[str, int], str]:
    """``{(task_id, map_index): state}`` of every task instance of the run."""
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """The XCom value a task instance of the run pushed, or ``None``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
                XComModel.map_index == map_index,
            )
        ).one_or_none()
        return None if row is None else XComModel.deserialize_value(row)
