"""Run a DAG built in a test under real Airflow and read back what Airflow stored.

Airflow 3's ``dag.test()`` only runs DAGs it finds serialized, so :func:`run_dag` first writes
the DAG to the test metadata DB, as the DAG processor would. The readers query the same DB.
The tests' one place for the differences between Airflow 2.11 and 3.x in its metadata models
(the provider's own are in ``airflow_provider_fivetran_update._compat``).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_fivetran_update._compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_VERSION,
)

_dag_counter = itertools.count()


def unique_dag_id(name: str) -> str:
    """A DAG id no earlier test used, so no state (TIs, XComs) of another run can leak in."""
    return f"{name}_{next(_dag_counter)}_{int(time.time() * 1000)}"


def new_dag(name: str) -> Any:
    """A DAG with an id no earlier test used (from ``name``), no schedule, starting 2026-01-01 UTC."""
    import pendulum

    from airflow_provider_fivetran_update._compat import DAG

    return DAG(unique_dag_id(name), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))


def dag_bag(dag_folder: str | None = None, **kwargs: Any) -> Any:
    """Airflow's ``DagBag`` over ``dag_folder`` (``None``: the configured DAG folder)."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:  # Airflow 2.11 to 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=dag_folder, **kwargs)


def hide_task_runner_debug_logs() -> None:
    """On Airflow 3.0, print the in-process task runner's logs as later releases do.

    Airflow 3.0's ``dag.test()`` leaves structlog unconfigured, so every debug message of its task
    runner is printed, among them the ``MaskSecret`` request (with the value) that Airflow sends
    when it reads a connection, and exceptions come as rich tracebacks that wrap their message.
    Later releases print INFO and above, with plain tracebacks, as a real worker does.
    """
    if AIRFLOW_VERSION[:2] != (3, 0):
        return
    import logging

    import structlog

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.dev.set_exc_info,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )


def without_masker_requests(output: str) -> str:
    """``output`` less the lines where Airflow itself sends a secret to its masker.

    Airflow 3.0's ``airflow dags test`` prints its task runner's debug messages, among them the
    ``MaskSecret`` request (with the value) that Airflow sends when it reads a connection.
    """
    return "\n".join(line for line in output.splitlines() if "msg=MaskSecret(" not in line)


def cli_json(stdout: str) -> Any:
    """The JSON an ``airflow ... -o json`` command printed (Airflow 3.0 logs INFO lines before it)."""
    import json

    for line in stdout.splitlines():
        if line.startswith(("[{", "{", "[]")):
            return json.loads(line)
    return json.loads(stdout)


def serialized_copy(dag: Any) -> Any:
    """``dag`` as the scheduler sees it: serialized and read back."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization as serializer
    except ImportError:  # before Airflow 3.3
        from airflow.serialization.serialized_objects import SerializedDAG as serializer
    return serializer.from_dict(serializer.to_dict(dag))


def serialize_dag(dag: Any) -> None:
    """Write ``dag`` to the metadata DB, as the DAG processor would."""
    if not AIRFLOW_V_3_0_PLUS:
        from airflow.models.serialized_dag import SerializedDagModel

        dag.sync_to_db()
        SerializedDagModel.write_dag(dag)
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
    bag = dag_bag(collect_dags=False)
    bag.bag_dag(dag)
    if AIRFLOW_V_3_1_PLUS:
        if AIRFLOW_V_3_2_PLUS:
            from airflow.dag_processing.dagbag import sync_bag_to_db
        else:
            from airflow.models.dagbag import sync_bag_to_db  # type: ignore[attr-defined,no-redef]
        sync_bag_to_db(bag, "dags-folder", None)
    else:  # Airflow 3.0, whose DagBag sets relative_fileloc only for the files it parses itself
        if dag.relative_fileloc is None:
            dag.relative_fileloc = os.path.basename(dag.fileloc)
        bag.sync_to_db("dags-folder", None)


def run_dag(dag: Any, **test_kwargs: Any) -> Any:
    """Serialize ``dag`` and run it with ``dag.test(**test_kwargs)``; return the DagRun."""
    serialize_dag(dag)
    if not AIRFLOW_V_3_0_PLUS and "logical_date" in test_kwargs:
        test_kwargs["execution_date"] = test_kwargs.pop("logical_date")
    return dag.test(**test_kwargs)


def task_states(dag_run: Any) -> dict[tuple[str, int], str]:
    """``{(task_id, map_index): state}`` of every task instance of the run."""
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}


def _xcom_model() -> Any:
    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.xcom import XComModel

        return XComModel
    from airflow.models.xcom import BaseXCom

    return BaseXCom


def _xcom_value(model: Any, row: Any) -> Any:
    # Airflow 2's model deserializes the value when it loads the row.
    return model.deserialize_value(row) if AIRFLOW_V_3_0_PLUS else row.value


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """The XCom value a task instance of the run pushed, or ``None``."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    model = _xcom_model()
    with create_session() as session:
        row = session.scalars(
            select(model).where(
                model.dag_id == dag_run.dag_id,
                model.run_id == dag_run.run_id,
                model.task_id == task_id,
                model.key == key,
                model.map_index == map_index,
            )
        ).one_or_none()
        return None if row is None else _xcom_value(model, row)


def all_xcoms(dag_run: Any) -> list[Any]:
    """Every XCom value the run's task instances pushed."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    model = _xcom_model()
    with create_session() as session:
        rows = session.scalars(
            select(model).where(model.dag_id == dag_run.dag_id, model.run_id == dag_run.run_id)
        ).all()
        return [_xcom_value(model, row) for row in rows]


def reschedule_count(ti: Any) -> int:
    """How often the task instance was rescheduled (``mode="reschedule"`` sensors)."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    if AIRFLOW_V_3_0_PLUS:
        where = [TaskReschedule.ti_id == ti.id]
    else:  # Airflow 2 keys reschedules by the task instance's natural key
        where = [
            TaskReschedule.dag_id == ti.dag_id,
            TaskReschedule.run_id == ti.run_id,
            TaskReschedule.task_id == ti.task_id,
            TaskReschedule.map_index == ti.map_index,
        ]
    with create_session() as session:
        return int(session.scalar(select(func.count()).select_from(TaskReschedule).where(*where)) or 0)


def rendered_fields(dag_run: Any, task_id: str, map_index: int = -1) -> dict[str, Any]:
    """What Airflow stored for the UI's "Rendered Template" view (the RTIF table)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, map_index=map_index)
            .one()
        )
        return dict(row.rendered_fields)


# Airflow 3's task runner stores each extra link's URL in XCom when a task ends; Airflow 2 does not.
LINKS_IN_XCOM = AIRFLOW_V_3_0_PLUS
# Airflow 2's dag.test() runs a deferred task's trigger in line, without a trigger row or next_kwargs.
DAG_TEST_STORES_TRIGGERS = AIRFLOW_V_3_0_PLUS


def extra_link_url(dag_run: Any, task_id: str, link: Any) -> Any:
    """The URL the UI shows for ``link`` on the task instance.

    Airflow 3's task runner stores each link's URL in XCom when the task ends; Airflow 2's
    webserver calls ``get_link`` when the page is shown.
    """
    if AIRFLOW_V_3_0_PLUS:
        return xcom(dag_run, task_id, link.xcom_key)
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return link.get_link(dag_run.dag.get_task(task_id), ti_key=ti.key)


@contextmanager
def forgetting_secrets() -> Iterator[None]:
    """Forget the secrets registered with Airflow's secrets masker while the block ran.

    Airflow 2's masker masks a secret of any length (Airflow 3 ignores those under 5 characters),
    so a test's one-letter secret would mask that letter in every later test of the session.
    """
    if AIRFLOW_V_3_0_PLUS:
        yield
        return
    from airflow.utils.log.secrets_masker import _secrets_masker

    masker = _secrets_masker()
    patterns, replacer = set(masker.patterns), masker.replacer
    try:
        yield
    finally:
        masker.patterns, masker.replacer = patterns, replacer
