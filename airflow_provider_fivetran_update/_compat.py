"""The one place that knows how Airflow versions differ (3.1 to 3.3)."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException

__all__ = ["AirflowException"]
