"""plan_update: what a change-only update sends, and the diff it reports (secrets masked)."""

from __future__ import annotations

import json

from airflow_provider_fivetran_update.planning import plan_update
from airflow_provider_fivetran_update.redaction import SECRET_MASK

NEW_PASSWORD = "pg-password-n3w"

CURRENT = {
    "id": "c",
    "paused": False,
    "sync_frequency": 360,
    "schedule_type": "auto",
    "config": {"host": "db.internal", "port": 5432, "password": SECRET_MASK},
    "status": {"is_historical_sync": False, "schema_status": "ready"},
}


def test_plan_sends_only_what_differs_and_masks_secrets_in_the_diff() -> None:
    payload = {
        "config": {"host": "db2.internal", "port": 5432, "password": NEW_PASSWORD},
        "paused": False,
        "sync_frequency": 60,
        "schema_status": "ready",
        "run_setup_tests": True,
    }
    to_send, changes = plan_update(payload, CURRENT)

    # Unchanged keys of config and unchanged fields stay out; the masked password cannot be compared.
    assert to_send == {
        "config": {"host": "db2.internal", "password": NEW_PASSWORD},
        "sync_frequency": 60,
        "run_setup_tests": True,
    }
    assert changes == {
        "config": {
            "from": {"host": "db.internal", "password": SECRET_MASK},
            "to": {"host": "db2.internal", "password": SECRET_MASK},
        },
        "sync_frequency": {"from": 360, "to": 60},
    }
    assert NEW_PASSWORD not in json.dumps(changes)


def test_plan_with_nothing_different_sends_nothing_not_even_setup_tests() -> None:
    payload = {
        "paused": False,
        "schema_status": "READY",
        "is_historical_sync": False,
        "run_setup_tests": True,
    }
    assert plan_update(payload, CURRENT) == ({}, {})


def test_plan_compares_status_fields_and_counts_unreported_fields_as_changed() -> None:
    pending = {**CURRENT, "status": {"is_historical_sync": True}}
    assert plan_update({"is_historical_sync": True}, pending) == ({}, {})
    assert plan_update({"is_historical_sync": True}, CURRENT)[1] == {
        "is_historical_sync": {"from": False, "to": True}
    }
    # auth is never reported by a GET: always sent, "from" unknown, value masked.
    to_send, changes = plan_update({"auth": {"client_secret": "s3cr3t"}}, CURRENT)
    assert to_send == {"auth": {"client_secret": "s3cr3t"}}
    assert changes == {"auth": {"from": None, "to": {"client_secret": SECRET_MASK}}}
    # A JSON true is not the number 1.
    assert plan_update({"paused": True}, {"paused": 1})[0] == {"paused": True}
