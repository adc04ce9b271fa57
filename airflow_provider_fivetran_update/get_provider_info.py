"""Provider metadata that Airflow's providers manager reads through the entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_fivetran_update import __version__


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's providers manager."""
    return {
        "package-name": "airflow-provider-fivetran-update",
        "name": "Fivetran Update",
        "description": "Update Fivetran connections and wait for their state from Airflow.",
        "versions": [__version__],
        "connection-types": [],
    }
