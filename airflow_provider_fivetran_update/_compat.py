"""The one place that knows how Airflow versions differ (2.11 to 3.3).

Every other module imports Airflow's names from here. Most come from the shims of
apache-airflow-providers-common-compat (``airflow.providers.common.compat.sdk``), which try the
Task SDK home first (Airflow 3) and fall back to the Airflow 2 one. They are resolved on first use
(module ``__getattr__``), so importing this module at DAG-parse time costs nothing and reading
``XCom`` or ``Variable`` does not load the XCom backend or the secrets backends until a task needs
them. Type checkers, which run against Airflow 3.3, see the Task SDK names.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import (
        DAG,
        BaseHook,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        Connection,
        Context,
        Param,
        PokeReturnValue,
        TaskGroup,
        Variable,
        task,
    )
    from airflow.sdk.configuration import conf
    from airflow.sdk.definitions._internal.abstractoperator import AbstractOperator
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.sdk.log import mask_secret
    from airflow.sdk.types import TaskInstanceKey
    from airflow.triggers.base import BaseTrigger, TriggerEvent


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "DAG",
    "AbstractOperator",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "EmptyOperator",
    "Param",
    "PokeReturnValue",
    "TaskDeferred",
    "TaskGroup",
    "TaskInstanceKey",
    "TriggerEvent",
    "Variable",
    "XCom",
    "aget_airflow_connection",
    "amask_secret",
    "conf",
    "first_reschedule_date",
    "mask_secret",
    "stored_xcom_value",
    "task",
    "try_number",
]


def _airflow_version() -> tuple[int, int]:
    from airflow import __version__
    from packaging.version import Version

    release = Version(__version__).release
    return release[0], release[1]


AIRFLOW_VERSION: tuple[int, int] = _airflow_version()
"""``(major, minor)`` of the running Airflow."""

AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION >= (3, 0)
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION >= (3, 1)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION >= (3, 2)

# Names common.compat has no shim for; the module is the same on every supported version.
_FIXED_HOMES = {
    "BaseTrigger": "airflow.triggers.base",
    # The standard provider comes with Airflow 3; Airflow 2 has the operator in core.
    "EmptyOperator": (
        "airflow.providers.standard.operators.empty" if AIRFLOW_V_3_0_PLUS else "airflow.operators.empty"
    ),
    "TriggerEvent": "airflow.triggers.base",
    # Airflow 2 has no abstract operator in the SDK: both operators and mapped operators derive
    # from airflow.models.abstractoperator there.
    "AbstractOperator": (
        "airflow.sdk.definitions._internal.abstractoperator"
        if AIRFLOW_V_3_0_PLUS
        else "airflow.models.abstractoperator"
    ),
}


# Every Airflow name not resolved above comes from the common.compat shims (Task SDK first, then
# the Airflow 2 module); the names this module defines itself never reach __getattr__.
_FROM_COMMON_COMPAT = frozenset(__all__) - _FIXED_HOMES.keys()


def _resolve(name: str) -> Any:
    if name in _FROM_COMMON_COMPAT:
        value = getattr(importlib.import_module("airflow.providers.common.compat.sdk"), name)
    elif name in _FIXED_HOMES:
        value = getattr(importlib.import_module(_FIXED_HOMES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __getattr__(name: str) -> Any:
    return _resolve(name)


def try_number(context: Context) -> int:
    """The number of the running try (1 for the first), as the task instance counts it."""
    return int(getattr(context["ti"], "try_number", 1) or 1)


def first_reschedule_date(context: Context, retries: int) -> datetime | None:
    """When a sensor in reschedule mode started its first try, as Airflow counts its timeout.

    ``None`` on the first poke. Airflow 3 asks the task runner; Airflow 2.11 reads the task's
    reschedule rows with the helper its own ``BaseSensorOperator.execute`` uses.
    """
    ti: Any = context["ti"]
    if AIRFLOW_V_3_0_PLUS:
        started: datetime | str | None = ti.get_first_reschedule_date(context)
        # Airflow 3.0 hands on the API's ISO text.
        return datetime.fromisoformat(started) if isinstance(started, str) else started
    from airflow.sensors.base import _orig_start_date  # type: ignore[attr-defined]

    return _orig_start_date(  # type: ignore[no-any-return]
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=ti.map_index,
        try_number=(ti.max_tries or 0) - retries + 1,
    )


def stored_xcom_value(*, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    """An unmapped task's XCom value read from the metadata database, outside a task; or ``None``."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.xcom import XComModel as model
    else:
        from airflow.models.xcom import BaseXCom as model  # type: ignore[no-redef]
    with create_session() as session:
        row = session.scalars(
            select(model).where(
                model.dag_id == dag_id,
                model.run_id == run_id,
                model.task_id == task_id,
                model.key == key,
                model.map_index == -1,
            )
        ).one_or_none()
        if row is None:
            return None
        # Airflow 2's model deserializes the value when it loads the row.
        return model.deserialize_value(row) if AIRFLOW_V_3_0_PLUS else row.value


async def amask_secret(secret: str) -> None:
    """Register ``secret`` with the secrets masker from async code without blocking the loop."""
    try:
        from airflow.sdk.log import amask_secret as _amask_secret
    except ImportError:  # Airflow 2 and Task SDKs before 1.3: the blocking call runs in a thread
        from asgiref.sync import sync_to_async

        await sync_to_async(_resolve("mask_secret"))(secret)
        return
    await _amask_secret(secret)


async def aget_airflow_connection(conn_id: str) -> Connection:
    """Read an Airflow connection from async code (triggers) without a blocking call.

    ``get_async_connection`` came with apache-airflow-providers-common-compat 1.9.0; from 1.23.0
    it avoids the ``DeadlockImminentError`` that ``BaseHook.aget_connection`` raises on Airflow
    older than 3.3.2 when another supervisor call is in flight on the same loop. On Airflow 2 it
    reads the connection in a worker thread.
    """
    from airflow.providers.common.compat.connection import get_async_connection

    return await get_async_connection(conn_id)
