"""Provider metadata that Airflow's providers manager reads through the entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_fivetran_update import __version__

_INTEGRATION = "Fivetran"
_PACKAGE = "airflow_provider_fivetran_update"


def connection_form() -> dict[str, Any]:
    """The Fivetran connection form: hidden fields, labels and placeholders.

    In the shape of ``BaseHook.get_ui_field_behaviour`` (the hook returns it); the provider
    metadata carries the same with dashes in the keys. Kept here so the metadata needs no hook.
    """
    return {
        "hidden_fields": ["schema", "port", "extra"],
        "relabeling": {
            "login": "API Key",
            "password": "API Secret",
            "host": "API base URL (optional)",
        },
        "placeholders": {
            "login": "Fivetran API key",
            "password": "Fivetran API secret",
            "host": "https://api.fivetran.com",
        },
    }


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's providers manager.

    The keys follow ``provider_info.schema.json`` of Airflow core. ``conn-fields`` and
    ``ui-field-behaviour`` describe the connection form declaratively (Airflow 3.2+ reads them from
    here without importing the hook); Airflow 3.1 ignores them.
    """
    return {
        "package-name": "airflow-provider-fivetran-update",
        "name": "Fivetran Update",
        "description": (
            "Update Fivetran connections (pause, resume, sync frequency, schedule, setup settings) "
            "and wait for their state from Airflow."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://fivetran.com/docs/rest-api/api-reference/connections",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.fivetran"]}],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.operators.fivetran", f"{_PACKAGE}.operators.sync"],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.sensors.fivetran", f"{_PACKAGE}.sensors.sync"],
            }
        ],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.triggers.fivetran"]}],
        "connection-types": [
            {
                "hook-class-name": f"{_PACKAGE}.hooks.fivetran.FivetranHook",
                "hook-name": "Fivetran",
                "connection-type": "fivetran",
                # The hook reads no extra settings: timeouts and retries are hook arguments.
                "conn-fields": {},
                "ui-field-behaviour": {
                    key.replace("_", "-"): value for key, value in connection_form().items()
                },
            }
        ],
        "extra-links": [f"{_PACKAGE}.links.FivetranConnectionLink"],
    }
