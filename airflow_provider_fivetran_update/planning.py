"""Change-only updates: which fields of an update differ from a connection's current settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_fivetran_update.fields import FIELDS, current_value
from airflow_provider_fivetran_update.redaction import SECRET_MASK, redact

__all__ = ["plan_update"]


def _canonical(value: Any) -> str:
    """JSON text that tells ``true`` from ``1`` and ignores key order, for comparisons."""
    return json.dumps(value, sort_keys=True, default=str)


def _holds_mask(value: Any) -> bool:
    """Whether a reported value is (or contains) a masked secret, which cannot be compared."""
    if isinstance(value, Mapping):
        return any(_holds_mask(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_mask(item) for item in value)
    return isinstance(value, str) and value == SECRET_MASK


def _same_value(name: str, wanted: Any, current: Any) -> bool:
    if current is None or _holds_mask(current):
        return False
    spec = FIELDS[name]
    if spec.allowed is not None and isinstance(wanted, str) and isinstance(current, str):
        return wanted.casefold() == current.casefold()
    return _canonical(wanted) == _canonical(current)


def plan_update(
    payload: Mapping[str, Any], connection: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split a validated update into what differs from a connection's current settings.

    Each field of ``payload`` is compared with what ``GET /v1/connections/{id}`` reported
    (:func:`~airflow_provider_fivetran_update.fields.current_value`, which follows ``status`` for
    ``is_historical_sync`` and ``schema_status``):

    * a field the GET does not report (``auth``, ``external_secrets_keys_config``) counts as
      changed: it cannot be compared;
    * an object field (``config``, ``destination_configuration``) is compared key by key, only
      for the keys given, and only the keys that differ are sent (Fivetran changes only the keys
      it receives); a key whose reported value is masked (``"******"``, a secret) counts as
      changed;
    * enumerations are compared case-insensitively; everything else as JSON (``true`` is not ``1``);
    * ``run_setup_tests``, ``trust_certificates`` and ``trust_fingerprints`` only steer the setup
      tests of an update: they are sent along when some other field is sent, and dropped (with
      the update) when nothing else differs.

    :param payload: the output of :func:`~airflow_provider_fivetran_update.fields.build_update_payload`.
    :param connection: the ``data`` of ``GET /v1/connections/{id}`` (secrets masked).
    :return: ``(to_send, changes)``: the body to PATCH (empty when nothing differs), and for each
        field sent ``{"from": reported value, "to": new value}`` with secrets masked (``from`` is
        ``None`` for a field the GET does not report).
    """
    persistent: dict[str, Any] = {}
    changes: dict[str, dict[str, Any]] = {}
    for name, wanted in payload.items():
        spec = FIELDS[name]
        if not spec.persistent:
            continue
        current = current_value(name, connection) if spec.status_path else None
        if spec.kind == "object" and spec.status_path:
            reported = current if isinstance(current, Mapping) else {}
            differing = {
                key: item
                for key, item in wanted.items()
                if key not in reported or not _same_value(name, item, reported[key])
            }
            if differing:
                persistent[name] = differing
                changes[name] = {"from": {key: reported.get(key) for key in differing}, "to": differing}
        elif not spec.status_path or not _same_value(name, wanted, current):
            persistent[name] = wanted
            changes[name] = {"from": current, "to": wanted}
    if not persistent:
        return {}, {}
    # The setup-test switches ride along with whatever is sent, in catalogue order.
    to_send = {
        name: persistent.get(name, value)
        for name, value in payload.items()
        if name in persistent or not FIELDS[name].persistent
    }
    # Every field goes through redact(): besides config/auth secrets it masks URI passwords.
    masked = {
        name: {side: redact({name: value})[name] for side, value in change.items()}
        for name, change in changes.items()
    }
    return to_send, masked
