"""Which values in a Fivetran connection are secrets, and how to hide them.

Fivetran marks secret setup settings in its API schema (``format: password``). The leaf names of
every setting so marked, across all services, are listed in :data:`SPEC_SECRET_KEYS`. Some of them
are not secret in themselves (``username``, ``client_id``, ``tenant_id``, ``role_arn``, ``hostname``,
``value`` from ``config.secrets_list[].value``...), but we follow Fivetran's markers: masking too much
costs a little readability in a log, masking too little leaks a credential. On top of that list,
:func:`is_secret_key` applies name rules (``password``, ``secret``, ``token``, ``api_key``,
``private_key``, ``credential``...), so services Fivetran adds later and settings we have never seen
are covered too. The name rules include every name Airflow's own masker treats as sensitive
(``authorization``, ``dsn``, ``proxy``, ``service_account``, ``webhook_url``...) and short words that
name a secret only on their own (``pwd``, ``pass``, ``pw``, ``pem``, ``dsn`` as a whole word of the
key, so ``bypass`` and ``temperature`` stay readable).

A value that is a URI with a password (``postgres://user:pw@host/db``, ``...?password=pw``) keeps
its shape with the password masked, wherever it appears in a connection, under any key.

Key names are matched wherever they occur inside the fields that may hold secrets (``config``,
``auth``, ``external_secrets_keys_config``, from :mod:`~airflow_provider_fivetran_update.fields`),
at any depth and inside lists. When a secret key holds an object or a list, everything under it is
masked. Booleans and nulls are left as they are: they cannot carry a credential, and a mask would
hide whether a feature is on. The Connect Card ``token`` and ``uri`` (which embeds the token) are
masked as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from airflow_provider_fivetran_update.fields import SECRET_FIELD_NAMES

__all__ = [
    "SECRET_MASK",
    "SPEC_SECRET_KEYS",
    "is_secret_key",
    "mask_uri_passwords",
    "redact",
    "secret_values",
]

SECRET_MASK = "******"
"""What a secret value is replaced with (Fivetran masks secrets the same way)."""

SPEC_SECRET_KEYS: frozenset[str] = frozenset(
    {
        "abs_connection_string",
        "abs_export_connection_string",
        "access_key",
        "access_key_id",
        "access_key_secret",
        "access_token",
        "account_access_token",
        "account_key",
        "account_token",
        "admin_api_key",
        "agent_password",
        "agreement_grant_token",
        "analytics_api_key",
        "api_access_token",
        "api_admin_key",
        "api_key",
        "api_key_2",
        "api_key_3",
        "api_key_api_secret",
        "api_password",
        "api_read_access_token",
        "api_secret",
        "api_secret_key",
        "api_token",
        "api_user_identifier",
        "api_user_secret",
        "api_username",
        "app_id",
        "app_key",
        "app_secret",
        "app_secret_token",
        "application_key",
        "asm_password",
        "audience",
        "auth_code",
        "auth_secret",
        "auth_token",
        "aws_secret_access_key",
        "bearer_token",
        "blob_sas_url",
        "business_id",
        "certificate",
        "certificate_id",
        "client_cert",
        "client_cert_key",
        "client_certificate",
        "client_certificate_private_key",
        "client_id",
        "client_key",
        "client_name",
        "client_private_key",
        "client_secret",
        "company_key",
        "company_request_token",
        "connect_password",
        "connection_string",
        "consumer_key",
        "consumer_secret",
        "container_name",
        "customer_api_key",
        "dsv_password",
        "ftp_password",
        "function_key",
        "function_trigger",
        "hostname",
        "integration_key",
        "key",
        "key_password",
        "keystore",
        "keystore_password",
        "login_password",
        "oauth2_secret",
        "oauth_subscription_key",
        "ocapi_client_secret",
        "onelake_client_secret",
        "partner_user_secret",
        "pass_phrase",
        "passphrase",
        "password",
        "pat_secret",
        "personal_access_token",
        "personal_api_token",
        "pgp_pass_phrase",
        "pgp_secret_key",
        "primary_key",
        "private_access_token",
        "private_key",
        "private_token",
        "project_access_token",
        "public_key",
        "query_param_value",
        "refresh_token",
        "report_service_api_key",
        "resource_token",
        "role_arn",
        "s3_export_role_arn",
        "s3_role_arn",
        "s3role_arn",
        "salesforce_security_token",
        "sasl_plain_key",
        "sasl_plain_secret",
        "sasl_scram256_key",
        "sasl_scram256_secret",
        "sasl_scram512_key",
        "sasl_scram512_secret",
        "schema_registry_api_key",
        "schema_registry_api_secret",
        "schema_registry_key",
        "schema_registry_secret",
        "secret",
        "secret_access_key",
        "secret_key",
        "secret_value",
        "secrets",
        "secured_signon_key",
        "sender_password",
        "service_account_key",
        "service_account_secret",
        "sftp_password",
        "shard_authorization_id",
        "short_code",
        "snc_certificate_source",
        "storage_account_key",
        "subscription_key",
        "tde_certificate",
        "tde_certificate_backup",
        "tde_certificate_path",
        "tde_password",
        "tde_private_key",
        "tde_private_key_backup",
        "tde_private_key_path",
        "tde_wallet_password",
        "tenant_id",
        "token",
        "token_id",
        "token_key",
        "token_secret",
        "token_secret_key",
        "tracking_subscription_key",
        "trusted_cert",
        "truststore",
        "user_key",
        "user_token",
        "username",
        "v2_api_key",
        "value",
        "web_service_api_key",
        "windows_auth_client_certificate",
        "windows_auth_server_certificate",
        "workspace_token",
        "ws_certificate",
        "x_api_key",
        "x_key",
        "x_master_key",
        "x_user_token",
    }
)
"""Leaf names of the settings Fivetran's API schema marks as passwords, for any service."""

# Fragments that make a key a secret wherever they appear in its name. They are compared with the
# key lower-cased and stripped of separators, so "apiKey", "api-key" and "API_KEY" all match.
_SECRET_FRAGMENTS: tuple[str, ...] = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "accountkey",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "sessionkey",
    "credential",
    "connectionstring",
    "certificate",
    "keystore",
    "truststore",
    "authcode",
    "sasurl",
    "sastoken",
    "signature",
    "cookie",
    # Airflow's DEFAULT_SENSITIVE_FIELDS (a test keeps this list covering the installed Airflow's).
    "authheader",
    "authorization",
    "bearer",
    "proxy",
    "proxies",
    "serviceaccount",
    "servicekey",
    "keyfiledict",
    "webhookurl",
    "sshkey",
    "jwt",
)

# Words that name a secret only when they are a whole word of the key: "db_pass", "sentryDsn" and
# "client_pem" are secrets, "bypass", "holdsnumber" and "temperature" are not.
_SECRET_WORDS: frozenset[str] = frozenset({"pwd", "pass", "pw", "dsn", "pem", "creds"})

# scheme://user:password@host -- the password may hold any character but the authority's end.
_URI_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^/?#\s]*)(?P<tail>@)"
)
# ...?password=secret&... and libpq's "host=h password=secret".
_PARAM_PASSWORD = re.compile(
    r"(?P<head>(?<![A-Za-z0-9])(?:\w*_)?(?:password|passwd|pwd|pass|secret|token|apikey|api_key)=)"
    r"(?P<secret>[^&;\s]+)(?P<tail>)",
    re.IGNORECASE,
)

_CONNECT_CARD_SECRETS: tuple[str, ...] = ("token", "uri")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def _snake(key: str) -> str:
    return _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", key).lower()).strip("_")


def is_secret_key(key: str) -> bool:
    """Tell whether a setting named ``key`` inside ``config`` or ``auth`` holds a secret.

    :param key: a leaf key name, such as ``password`` or ``clientSecret``; case does not matter.
    :return: ``True`` when its value must be masked.
    """
    snake = _snake(key)
    if snake in SPEC_SECRET_KEYS:
        return True
    if any(word in _SECRET_WORDS for word in snake.split("_")):
        return True
    compact = snake.replace("_", "")
    return any(fragment in compact for fragment in _SECRET_FRAGMENTS)


def _uri_secrets(text: str) -> list[str]:
    """The passwords written into a URI or a DSN (``postgres://u:pw@h``, ``?password=pw``)."""
    if "=" not in text and "@" not in text:
        return []
    found = [
        match.group("secret")
        for pattern in (_URI_PASSWORD, _PARAM_PASSWORD)
        for match in pattern.finditer(text)
    ]
    return [secret for secret in found if secret and secret != SECRET_MASK]


def mask_uri_passwords(text: str) -> str:
    """``text`` with the password of every URI or DSN in it replaced by :data:`SECRET_MASK`."""
    if "=" not in text and "@" not in text:
        return text
    for pattern in (_URI_PASSWORD, _PARAM_PASSWORD):
        text = pattern.sub(lambda match: match.group("head") + SECRET_MASK + match.group("tail"), text)
    return text


def _mask_all(value: Any) -> Any:
    """Mask every value under a secret key, keeping the shape of objects and lists."""
    if isinstance(value, Mapping):
        return {key: _mask_all(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_all(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    return SECRET_MASK


def _redact_tree(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _mask_all(item) if is_secret_key(str(key)) else _redact_tree(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact_tree(item) for item in value]
    return _copy(value)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(item) for item in value]
    if isinstance(value, str):
        return mask_uri_passwords(value)
    return value


def _redact_section(value: Any) -> Any:
    if isinstance(value, str):
        # Not yet parsed (a rendered template): the whole text may be a JSON object of secrets.
        return SECRET_MASK if value else value
    return _redact_tree(value)


def redact(connection: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a connection (or of an update payload) with its secrets masked.

    :param connection: the ``data`` object of a Fivetran connection, or a PATCH body.
    :return: a deep copy where every secret in ``config``, ``auth`` and
        ``external_secrets_keys_config``, and the Connect Card token and URI, are
        :data:`SECRET_MASK`. The input is not modified.
    """
    redacted: dict[str, Any] = {}
    for key, value in connection.items():
        if key in SECRET_FIELD_NAMES:
            redacted[key] = _redact_section(value)
        elif key == "connect_card" and isinstance(value, Mapping):
            redacted[key] = {
                name: _mask_all(item) if name in _CONNECT_CARD_SECRETS else _copy(item)
                for name, item in value.items()
            }
        else:
            redacted[key] = _copy(value)
    return redacted


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _secret_leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if is_secret_key(str(key)):
                yield from _leaves(item)
            else:
                yield from _secret_leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secret_leaves(item)
    elif isinstance(value, str):
        for secret in _uri_secrets(value):
            yield secret
            yield unquote(secret)


def _section_secrets(value: Any) -> Iterator[Any]:
    if isinstance(value, str):
        yield value
        try:
            parsed = json.loads(value)
        except ValueError:
            return
        yield from _secret_leaves(parsed)
    else:
        yield from _secret_leaves(value)


def secret_values(payload: Mapping[str, Any]) -> list[str]:
    """List the values :func:`redact` would mask, to register them with Airflow's ``mask_secret``.

    :param payload: a connection's ``data`` object or a PATCH body.
    :return: each secret once, as a string, in the order found; empty strings and values already
        equal to :data:`SECRET_MASK` are left out.
    """
    found: list[Any] = []
    for key, value in payload.items():
        if key in SECRET_FIELD_NAMES:
            found.extend(_section_secrets(value))
        elif key == "connect_card" and isinstance(value, Mapping):
            for name in _CONNECT_CARD_SECRETS:
                found.extend(_leaves(value.get(name)))
    result: list[str] = []
    for value in found:
        if value is None or isinstance(value, bool):
            continue
        text = str(value)
        if text and text != SECRET_MASK and text not in result:
            result.append(text)
    return result
