"""Secret detection and masking of Fivetran connections and update payloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.fields import build_update_payload
from airflow_provider_fivetran_update.redaction import (
    SECRET_MASK,
    SPEC_SECRET_KEYS,
    is_secret_key,
    redact,
    secret_values,
)

SECRET_FIELDS_FILE = (
    Path(__file__).resolve().parents[2] / "shared" / "fivetran" / "fivetran-secret-fields.json"
)

CONNECTION: dict[str, Any] = {
    "id": "conn_a",
    "service": "postgres",
    "paused": False,
    "sync_frequency": 360,
    "status": {"setup_state": "connected", "sync_state": "scheduled", "is_historical_sync": False},
    "config": {
        "host": "db.example.com",
        "port": 5432,
        "user": "fivetran",
        "password": "pg-pass",
        "tunnel": {"host": "bastion", "private_key": "-----BEGIN KEY-----abc"},
        "secrets_list": [
            {"key": "API", "value": "list-secret-1"},
            {"key": "OTHER", "value": "list-secret-2"},
        ],
        "schemas": ["public", "sales"],
        "use_ssl": True,
    },
    "auth": {
        "client_access": {"client_id": "cid", "client_secret": "auth-client-secret"},
        "access_token": "auth-access-token",
        "refresh_token": "auth-refresh-token",
        "realm_id": "realm-1",
    },
    "connect_card": {
        "token": "eyJ.card.token",
        "uri": "https://fivetran.com/connect-card/setup?auth=eyJ.card.token",
    },
    "connect_card_config": {"redirect_uri": "https://your.site/path", "hide_setup_guide": True},
}


# --- is_secret_key --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "api_key",
        "client_secret",
        "access_token",
        "refresh_token",
        "private_key",
        "pgp_pass_phrase",
        "connection_string",
        "role_arn",
        "username",
        "value",
        # Name rules, for names no service lists yet.
        "apiKey",
        "API-KEY",
        "ClientSecret",
        "db_password_2",
        "webhook_signing_key",
        "service_account_credentials",
        "sas_token",
        "ssl_client_certificate",
        "keystore_file",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["host", "port", "user", "database", "schemas", "schema_prefix", "use_ssl", "region", "realm_id"]
)
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_spec_names_are_leaf_names() -> None:
    assert all("." not in name and name == name.lower() for name in SPEC_SECRET_KEYS)
    assert {"api_key", "password", "client_secret", "value", "s3_role_arn"} <= SPEC_SECRET_KEYS


def test_spec_names_match_fivetran_secret_markers() -> None:
    if not SECRET_FIELDS_FILE.is_file():
        pytest.skip(f"Fivetran's secret field list is not available at {SECRET_FIELDS_FILE}")
    markers = json.loads(SECRET_FIELDS_FILE.read_text(encoding="utf-8"))
    leaves = {
        path.rsplit(".", 1)[-1]
        for section in ("config_secret_fields", "auth_secret_fields")
        for path in markers[section]
    }
    assert leaves == SPEC_SECRET_KEYS


# --- redact ---------------------------------------------------------------------------------------


def test_redact_masks_nested_config() -> None:
    redacted = redact(CONNECTION)
    config = redacted["config"]
    assert config["password"] == SECRET_MASK
    assert config["tunnel"] == {"host": "bastion", "private_key": SECRET_MASK}
    assert config["host"] == "db.example.com"
    assert config["port"] == 5432
    assert config["user"] == "fivetran"
    assert config["schemas"] == ["public", "sales"]
    assert config["use_ssl"] is True


def test_redact_masks_inside_lists_of_dicts() -> None:
    assert redact(CONNECTION)["config"]["secrets_list"] == [
        {"key": SECRET_MASK, "value": SECRET_MASK},
        {"key": SECRET_MASK, "value": SECRET_MASK},
    ]


def test_redact_masks_auth() -> None:
    assert redact(CONNECTION)["auth"] == {
        "client_access": {"client_id": SECRET_MASK, "client_secret": SECRET_MASK},
        "access_token": SECRET_MASK,
        "refresh_token": SECRET_MASK,
        "realm_id": "realm-1",
    }


def test_redact_masks_connect_card_token_and_uri() -> None:
    redacted = redact(CONNECTION)
    assert redacted["connect_card"] == {"token": SECRET_MASK, "uri": SECRET_MASK}
    assert redacted["connect_card_config"] == CONNECTION["connect_card_config"]


def test_redact_leaves_everything_else_alone() -> None:
    redacted = redact(CONNECTION)
    for key in ("id", "service", "paused", "sync_frequency", "status"):
        assert redacted[key] == CONNECTION[key]


def test_redact_does_not_change_or_share_the_input() -> None:
    before = copy.deepcopy(CONNECTION)
    redacted = redact(CONNECTION)
    assert before == CONNECTION
    redacted["status"]["setup_state"] = "broken"
    redacted["config"]["schemas"].append("x")
    assert before == CONNECTION


def test_redact_unknown_service_by_name_rules() -> None:
    connection = {
        "service": "brand_new_saas",
        "config": {
            "workspace": "acme",
            "myServiceApiKey": "k-123",
            "oauth": {"clientSecret": "s-456", "scopes": ["read"]},
            "db_passwd": "p-789",
        },
    }
    assert redact(connection)["config"] == {
        "workspace": "acme",
        "myServiceApiKey": SECRET_MASK,
        "oauth": {"clientSecret": SECRET_MASK, "scopes": ["read"]},
        "db_passwd": SECRET_MASK,
    }


def test_redact_masks_everything_under_a_secret_key_but_keeps_shape() -> None:
    connection = {
        "config": {
            "aws_credentials": {"s3_role_arn": "arn:aws:iam::1:role/x", "region": "us-east-1"},
            "secrets": [{"name": "a", "n": 42}, "plain", None, False],
        }
    }
    assert redact(connection)["config"] == {
        "aws_credentials": {"s3_role_arn": SECRET_MASK, "region": SECRET_MASK},
        "secrets": [{"name": SECRET_MASK, "n": SECRET_MASK}, SECRET_MASK, None, False],
    }


def test_redact_keeps_null_and_boolean_secrets() -> None:
    redacted = redact({"config": {"password": None, "use_api_key": True, "api_key": 12345}})
    assert redacted["config"] == {"password": None, "use_api_key": True, "api_key": SECRET_MASK}


def test_redact_payload_with_external_secrets_keys_config() -> None:
    payload = build_update_payload(
        {
            "paused": False,
            "config": '{"password": "p"}',
            "external_secrets_keys_config": {"password": "vault/key/pg", "host": "vault/key/host"},
        }
    )
    redacted = redact(payload)
    assert redacted["external_secrets_keys_config"] == {"password": SECRET_MASK, "host": "vault/key/host"}
    assert redacted["config"] == {"password": SECRET_MASK}
    assert redacted["paused"] is False


def test_redact_masks_an_unparsed_json_string() -> None:
    redacted = redact({"config": '{"password": "raw"}', "auth": ""})
    assert redacted == {"config": SECRET_MASK, "auth": ""}


def test_redact_is_idempotent() -> None:
    once = redact(CONNECTION)
    assert redact(once) == once


# --- secret_values --------------------------------------------------------------------------------


def test_secret_values_lists_what_redact_masks() -> None:
    values = secret_values(CONNECTION)
    assert values == [
        "pg-pass",
        "-----BEGIN KEY-----abc",
        "API",
        "list-secret-1",
        "OTHER",
        "list-secret-2",
        "cid",
        "auth-client-secret",
        "auth-access-token",
        "auth-refresh-token",
        "eyJ.card.token",
        "https://fivetran.com/connect-card/setup?auth=eyJ.card.token",
    ]
    redacted_text = json.dumps(redact(CONNECTION))
    assert not any(value in redacted_text for value in values)


def test_secret_values_skips_masks_empties_and_duplicates() -> None:
    payload = {
        "config": {"password": SECRET_MASK, "api_key": "", "token": "t", "secret": "t", "pin_token": 1234},
        "auth": {"access_token": None, "refresh_token": False},
    }
    assert secret_values(payload) == ["t", "1234"]


def test_secret_values_of_a_redacted_connection_is_empty() -> None:
    assert secret_values(redact(CONNECTION)) == []


def test_secret_values_of_an_unparsed_json_string() -> None:
    assert secret_values({"config": '{"password": "raw", "host": "h"}'}) == [
        '{"password": "raw", "host": "h"}',
        "raw",
    ]
    assert secret_values({"config": "not json"}) == ["not json"]


def test_secret_values_ignores_other_fields() -> None:
    assert secret_values({"paused": True, "private_link_id": "pl", "status": {"token": "x"}}) == []


# --- secrets never reach validation errors --------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"config": {"password": "pg-pass", "when": object()}},
        {"config": '{"password": "pg-pass"', "paused": True},
        {"auth": ["pg-pass"]},
        {"external_secrets_keys_config": "pg-pass"},
        {"config": {"password": "pg-pass"}, "sync_frequency": "often"},
        {"config": {"password": "pg-pass"}, "trust_certificates": True, "run_setup_tests": False},
        {"config": {"password": "pg-pass"}, "daily_sync_time": "25:00", "sync_frequency": 5},
        {"config": {"password": "pg-pass"}, "sync_frequncy": 60},
    ],
)
def test_validation_errors_never_contain_secret_values(fields: dict[str, Any]) -> None:
    with pytest.raises(FivetranValidationError) as info:
        build_update_payload(fields)
    assert "pg-pass" not in str(info.value)
    assert "pg-pass" not in repr(info.value.args)
    assert info.value.__cause__ is None


# --- names and values outside Fivetran's schema ---------------------------------------------------


def _airflow_sensitive_fields() -> frozenset[str]:
    try:
        from airflow.sdk._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS
    except ImportError:  # Airflow 2.11 and 3.0 keep it in the core package
        from airflow.utils.log.secrets_masker import (  # type: ignore[no-redef]
            DEFAULT_SENSITIVE_FIELDS,
        )
    return frozenset(DEFAULT_SENSITIVE_FIELDS)


def test_every_name_airflow_treats_as_sensitive_is_a_secret_key() -> None:
    names = _airflow_sensitive_fields()
    # "dsn" joined Airflow's list in 3.x; 2.11's has the others.
    assert {"password", "authorization", "service_account"} <= names
    assert [name for name in sorted(names) if not is_secret_key(name)] == []
    # Airflow matches its names inside longer keys; so do we.
    assert [name for name in sorted(names) if not is_secret_key(f"my_{name}_2")] == []


@pytest.mark.parametrize(
    "key",
    [
        "pwd",
        "db_pwd",
        "pass",
        "dbPass",
        "passphrase",
        "ssh_key",
        "sshKey",
        "authorization",
        "Authorization",
        "service_account_json",
        "jwt",
        "jwt_assertion",
        "pem",
        "client_pem",
        "dsn",
        "sentry_dsn",
        "credentials",
        "gcp_credentials",
        "webhook_url",
        "proxy_url",
    ],
)
def test_common_secret_names_outside_fivetrans_schema(key: str) -> None:
    assert is_secret_key(key)
    payload = {"config": {"host": "db.example.com", "port": 5432, key: "s3cr3t-value-1"}}
    redacted = redact(payload)
    assert redacted["config"] == {"host": "db.example.com", "port": 5432, key: SECRET_MASK}
    assert secret_values(payload) == ["s3cr3t-value-1"]


@pytest.mark.parametrize(
    "key",
    [
        "host",
        "port",
        "user",
        "schema",
        "database",
        "schemas",
        "region",
        "bypass_cache",
        "passive_mode",
        "temperature_unit",
        "compass_heading",
        "holdsnumber",
        "timezone",
        "sync_mode",
    ],
)
def test_ordinary_names_stay_readable(key: str) -> None:
    assert not is_secret_key(key)
    assert redact({"config": {key: "readable"}}) == {"config": {key: "readable"}}


@pytest.mark.parametrize(
    ("uri", "masked", "secrets"),
    [
        ("postgres://u:p4ss-w0rd@db:5432/app", "postgres://u:******@db:5432/app", ["p4ss-w0rd"]),
        # An unescaped "@" in the password: everything up to the host's "@" is the password.
        ("mysql://admin:p@ss@db/x?ssl=1", "mysql://admin:******@db/x?ssl=1", ["p@ss"]),
        (
            "jdbc:postgresql://db/app?user=u&password=s3cr%40t&ssl=true",
            "jdbc:postgresql://db/app?user=u&password=******&ssl=true",
            ["s3cr%40t", "s3cr@t"],
        ),
        (
            "host=db user=u password=libpq-pw dbname=x",
            "host=db user=u password=****** dbname=x",
            ["libpq-pw"],
        ),
    ],
)
def test_uri_passwords_are_masked_under_any_key(uri: str, masked: str, secrets: list[str]) -> None:
    connection = {
        "id": "conn_uri",
        "config": {"connection_url": uri, "nested": [{"target": uri}], "host": "db"},
        "destination_configuration": {"endpoint": uri},
    }
    redacted = redact(connection)
    assert redacted["config"] == {"connection_url": masked, "nested": [{"target": masked}], "host": "db"}
    assert redacted["destination_configuration"] == {"endpoint": masked}
    assert secret_values(connection) == secrets
    assert redact(redacted) == redacted


@pytest.mark.parametrize(
    "text", ["https://fivetran.com/dashboard", "mysql://user@db/x", "http://db:8080/a@b", "a=b&c=d"]
)
def test_uris_without_a_password_stay_readable(text: str) -> None:
    assert redact({"config": {"url": text}}) == {"config": {"url": text}}
    assert secret_values({"config": {"url": text}}) == []
