"""How Fivetran judges a ``PATCH /v1/connections/{id}`` body: the simulator's own reading.

Written from Fivetran's reference page and OpenAPI (the project's ground-truth folder), and
deliberately sharing nothing with the provider's field catalogue: a rule that is wrong in the
provider must not be wrong here too, or no test could see it. A test compares the two readings
over a corpus of bodies. Where the documents disagree the OpenAPI wins; each such case, and why,
is listed in ``docs/simulator-api.md`` ("Request validation"). Values of ``config``, ``auth`` and
``external_secrets_keys_config`` may be secrets and are never repeated in a message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SCHEDULE_TYPES",
    "SETUP_TEST_ONLY_FIELDS",
    "SYNC_FREQUENCIES",
    "UPDATABLE_FIELDS",
    "check_update_body",
    "update_payload",
]

SYNC_FREQUENCIES = (1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440)
_SYNC_FREQUENCY_TEXTS = frozenset(str(minutes) for minutes in SYNC_FREQUENCIES)
_SENSITIVITIES = ("LOW", "NORMAL", "HIGH", "CUSTOM", "SYNC_FREQUENCY")
_SCHEMA_STATUSES = ("blocked_on_capture", "ready")
SCHEDULE_TYPES = ("auto", "manual")
# The update schema's list; the answer can also report UnmanagedProxyAgent and Unknown.
_NETWORKING_METHODS = ("Directly", "PrivateLink", "SshTunnel", "ProxyAgent")
_INT32 = (-(2**31), 2**31 - 1)
_HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_SECRET_FIELDS = frozenset({"config", "auth", "external_secrets_keys_config"})
_DESTINATION_CONFIGURATION_KEYS = ("virtual_warehouse",)


@dataclass(frozen=True)
class _Field:
    check: Callable[[Any], str | None]  # returns what is wrong, or None
    persistent: bool = True


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "expected a JSON boolean (true or false)"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "expected a string"


def _object(value: Any) -> str | None:
    return None if isinstance(value, dict) else "expected a JSON object"


def _anything(value: Any) -> str | None:
    return None


def _integral(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _sync_frequency(value: Any) -> str | None:
    if _integral(value) in SYNC_FREQUENCIES or (isinstance(value, str) and value in _SYNC_FREQUENCY_TEXTS):
        return None
    return "expected one of " + ", ".join(str(minutes) for minutes in SYNC_FREQUENCIES) + " (minutes)"


def _threshold(value: Any) -> str | None:
    number = _integral(value)
    if number is not None and _INT32[0] <= number <= _INT32[1]:
        return None
    return "expected an integer number of minutes"


def _one_of(choices: tuple[str, ...], *, any_case: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and (value.lower() if any_case else value) in choices:
            return None
        return "expected one of " + ", ".join(choices)

    return check


def _daily_sync_time(value: Any) -> str | None:
    if isinstance(value, str) and _HH_MM.match(value):
        return None
    return 'expected a UTC time "HH:MM", for example "14:00"'


def _destination_configuration(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "expected a JSON object"
    unknown = sorted(set(value) - set(_DESTINATION_CONFIGURATION_KEYS))
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_DESTINATION_CONFIGURATION_KEYS)}"
    warehouse = value.get("virtual_warehouse")
    if warehouse is not None and not isinstance(warehouse, str):
        return "virtual_warehouse must be a string"
    return None


_FIELDS: Mapping[str, _Field] = {
    "config": _Field(_object),
    "auth": _Field(_object),
    "paused": _Field(_boolean),
    "trust_certificates": _Field(_boolean, persistent=False),
    "trust_fingerprints": _Field(_boolean, persistent=False),
    "run_setup_tests": _Field(_boolean, persistent=False),
    "sync_frequency": _Field(_sync_frequency),
    "daily_sync_time": _Field(_daily_sync_time),
    "data_delay_threshold": _Field(_threshold),
    "data_delay_sensitivity": _Field(_one_of(_SENSITIVITIES)),
    "pause_after_trial": _Field(_boolean),
    "is_historical_sync": _Field(_boolean),
    "schema_status": _Field(_one_of(_SCHEMA_STATUSES, any_case=True)),
    "schedule_type": _Field(_one_of(SCHEDULE_TYPES)),
    "networking_method": _Field(_one_of(_NETWORKING_METHODS)),
    "destination_configuration": _Field(_destination_configuration),
    "private_link_id": _Field(_string),
    "proxy_agent_id": _Field(_string),
    "hybrid_deployment_agent_id": _Field(_string),
    "external_secrets_manager_id": _Field(_string),
    "external_secrets_keys_config": _Field(_anything),
}

UPDATABLE_FIELDS = tuple(_FIELDS)
"""Every field the documents list for ``PATCH /v1/connections/{id}``."""

SETUP_TEST_ONLY_FIELDS = frozenset(name for name, spec in _FIELDS.items() if not spec.persistent)
"""The fields that only steer one update's setup tests: Fivetran does not store them."""


def check_update_body(body: Mapping[str, Any]) -> list[str]:
    """What Fivetran would refuse in this ``PATCH`` body, one sentence per problem; empty if accepted.

    A pure function of the body: no documented rule depends on the stored connection (see the
    module notes on ``daily_sync_time`` and ``data_delay_threshold``).
    """
    problems: list[str] = []
    for name, value in body.items():
        spec = _FIELDS.get(name)
        if spec is None:
            problems.append(_unknown(name))
            continue
        if value is None:
            continue
        wrong = spec.check(value)
        if wrong is not None:
            shown = "" if name in _SECRET_FIELDS else f" {value!r}"
            problems.append(f"Invalid value{shown} for field '{name}': {wrong}.")
    given = {name for name, value in body.items() if value is not None and name in _FIELDS}
    if not any(_FIELDS[name].persistent for name in given):
        if given:
            problems.append(
                f"Invalid request payload: {', '.join(sorted(given))} only control this update's setup"
                " tests and cannot be sent alone; add at least one persistent parameter (for example"
                " sync_frequency, paused, config, auth, daily_sync_time, schema_status), or run the"
                " tests with POST /v1/connections/{connectionId}/test."
            )
        elif not problems:
            problems.append(
                "Invalid request payload: at least one persistent parameter is required (for example"
                " sync_frequency, paused, config, auth, daily_sync_time, schema_status)."
            )
    if body.get("run_setup_tests") is False:
        trusting = [
            name for name in ("trust_certificates", "trust_fingerprints") if body.get(name) is not None
        ]
        if trusting:
            problems.append(
                f"Invalid request payload: {' and '.join(trusting)} only apply to setup tests, which"
                " run_setup_tests=false turns off; send run_setup_tests=true or leave it out."
            )
    return problems


def update_payload(body: Mapping[str, Any]) -> dict[str, Any]:
    """The changes an accepted body makes, as the simulator stores them.

    ``null`` values are dropped (not given), ``sync_frequency`` and ``data_delay_threshold``
    become ``int`` and ``schema_status`` lower case.

    :raises ValueError: if :func:`check_update_body` finds a problem.
    """
    problems = check_update_body(body)
    if problems:
        raise ValueError(" ".join(problems))
    payload: dict[str, Any] = {}
    for name, value in body.items():
        if value is None:
            continue
        if name in ("sync_frequency", "data_delay_threshold"):
            value = int(value)
        elif name == "schema_status":
            value = value.lower()
        payload[name] = value
    return payload


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, UPDATABLE_FIELDS, n=1, cutoff=0.75)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return (
        f"Unknown field '{name}': it cannot be updated with this request.{hint}"
        f" Fields that can be updated: {', '.join(UPDATABLE_FIELDS)}."
    )
