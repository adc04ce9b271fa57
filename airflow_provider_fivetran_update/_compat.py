"""The one place that knows how Airflow versions differ (3.1 to 3.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from airflow.sdk import Connection

    # Type checkers only (they run against 3.3); Airflow 3.1 keeps it in airflow.models.taskinstancekey.
    from airflow.sdk.types import TaskInstanceKey as TaskInstanceKey

# Airflow 3.1's Task SDK does not re-export these; its sensors catch the airflow.exceptions ones.
# From 3.2 on both modules hold the same classes.
try:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )

# Airflow 3.1's Task SDK has no ``conf``; the core configuration is the same object there.
try:
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment]

# ``airflow.sdk.log.mask_secret`` is the public home of the secrets masker from Airflow 3.1 on;
# ``amask_secret`` (which awaits the supervisor instead of blocking the event loop) came later.
try:
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - older Task SDK layout
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]


async def amask_secret(secret: str) -> None:
    """Register ``secret`` with the secrets masker from async code without blocking the loop."""
    try:
        from airflow.sdk.log import amask_secret as _amask_secret
    except ImportError:  # Task SDKs without it: the blocking call runs in a worker thread
        from asgiref.sync import sync_to_async

        await sync_to_async(mask_secret)(secret)
        return
    await _amask_secret(secret)


async def aget_airflow_connection(conn_id: str) -> Connection:
    """Read an Airflow connection from async code (triggers) without a blocking call.

    ``get_async_connection`` came with apache-airflow-providers-common-compat 1.9.0; from 1.23.0
    it avoids the ``DeadlockImminentError`` that ``BaseHook.aget_connection`` raises on Airflow
    older than 3.3.2 when another supervisor call is in flight on the same loop.
    """
    from airflow.providers.common.compat.connection import get_async_connection

    return await get_async_connection(conn_id)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "aget_airflow_connection",
    "amask_secret",
    "conf",
    "mask_secret",
]
