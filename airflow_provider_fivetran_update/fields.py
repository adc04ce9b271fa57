"""The catalogue of fields accepted by Fivetran's Update a Connection call.

``PATCH /v1/connections/{id}`` takes a JSON object whose properties are listed here, once, in
:data:`FIELDS`: the operator's arguments and ``template_fields``, the validation and coercion of
rendered values and the documentation table all read from it (the simulator keeps its own
reading of Fivetran's documents). ``None`` means "leave unchanged" and is never sent.
:func:`coerce_value` turns rendered text into the API's types; :func:`build_update_payload`
refuses what Fivetran's documents forbid and nothing more, :func:`update_warnings` names what
Fivetran will ignore. Error messages never repeat a value that may hold secrets. The rules in
detail: docs/architecture.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from airflow_provider_fivetran_update.exceptions import FivetranValidationError

__all__ = [
    "FIELDS",
    "FIELD_NAMES",
    "SECRET_FIELD_NAMES",
    "FieldSpec",
    "build_update_payload",
    "catalogue_markdown",
    "coerce_value",
    "current_value",
    "runs_setup_tests",
    "update_warnings",
    "with_setup_test_policy",
]

KINDS = ("bool", "int", "str", "object")

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_DAILY_SYNC_FREQUENCY = 1440
_CUSTOM_SENSITIVITY = "CUSTOM"
_TEST_ENDPOINT = "POST /v1/connections/{id}/test"
_TRUST_FIELDS = ("trust_certificates", "trust_fingerprints")

_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})
_BOOL_FORM = "true or false (also yes/no, on/off, 1/0, any case)"
_INT_RE = re.compile(r"[+-]?\d+")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")
_STRICT_TIME_RE = re.compile(r"(\d{2}):(\d{2})")
_TIME_FORM = "a UTC time 'HH:MM' from '00:00' to '23:59'; Fivetran starts daily syncs on the hour ('HH:00')"
_OBJECT_FORM = "a JSON object (a dict, or a string holding a JSON object)"
_STRICT_OBJECT_FORM = "a JSON object"
_MAX_ECHO = 80

# Keys Fivetran documents inside destination_configuration, with their kind.
_DESTINATION_CONFIGURATION_KEYS: Mapping[str, str] = MappingProxyType({"virtual_warehouse": "str"})


@dataclass(frozen=True)
class FieldSpec:
    """One property of the Update a Connection request body.

    :param name: the JSON property name.
    :param kind: ``"bool"``, ``"int"``, ``"str"`` or ``"object"``.
    :param allowed: the values Fivetran accepts, in its own spelling, or ``None`` when free.
    :param persistent: ``False`` for the fields that only steer the setup tests of one update.
    :param may_hold_secrets: ``True`` when the value may carry credentials; it is never echoed.
    :param status_path: where ``GET /v1/connections/{id}`` reports the current value in ``data``,
        for example ``("paused",)`` or ``("status", "is_historical_sync")``; empty when it does not.
    :param doc: one line describing the field.
    :param setup_tested: ``True`` when a change of the field is what Fivetran's setup tests check
        (credentials, how the source is reached): an update touching none of these fields is sent
        without setup tests unless asked for (see :func:`with_setup_test_policy`).
    """

    name: str
    kind: str
    allowed: tuple[Any, ...] | None
    persistent: bool
    may_hold_secrets: bool
    status_path: tuple[str, ...]
    doc: str
    setup_tested: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"FieldSpec {self.name!r}: kind must be one of {KINDS}, not {self.kind!r}")


def _spec(
    name: str,
    kind: str,
    doc: str,
    *,
    allowed: tuple[Any, ...] | None = None,
    persistent: bool = True,
    may_hold_secrets: bool = False,
    status_path: tuple[str, ...] | None = None,
    setup_tested: bool = False,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        kind=kind,
        allowed=allowed,
        persistent=persistent,
        may_hold_secrets=may_hold_secrets,
        status_path=(name,) if status_path is None else status_path,
        doc=doc,
        setup_tested=setup_tested,
    )


_CATALOGUE: tuple[FieldSpec, ...] = (
    _spec(
        "config",
        "object",
        "Service-specific setup settings; only the keys given are changed.",
        may_hold_secrets=True,
        setup_tested=True,
    ),
    _spec(
        "auth",
        "object",
        "Service-specific authorization settings (OAuth client, tokens).",
        may_hold_secrets=True,
        status_path=(),
        setup_tested=True,
    ),
    _spec("paused", "bool", "Stop (true) or resume (false) the connection's syncs."),
    _spec(
        "trust_certificates",
        "bool",
        "Accept the source's TLS certificate automatically in this update's setup tests.",
        persistent=False,
        status_path=(),
    ),
    _spec(
        "trust_fingerprints",
        "bool",
        "Accept the SSH host fingerprint automatically in this update's setup tests.",
        persistent=False,
        status_path=(),
    ),
    _spec(
        "sync_frequency",
        "int",
        "Minutes between two syncs.",
        allowed=(1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440),
    ),
    _spec(
        "data_delay_threshold",
        "int",
        "Minutes of delay before Fivetran notifies; used only with CUSTOM sensitivity.",
    ),
    _spec(
        "data_delay_sensitivity",
        "str",
        "How soon Fivetran reports data as delayed.",
        allowed=("LOW", "NORMAL", "HIGH", "CUSTOM", "SYNC_FREQUENCY"),
    ),
    _spec(
        "daily_sync_time",
        "str",
        "UTC hour ('HH:00') of the daily sync; applied only when sync_frequency is 1440.",
    ),
    _spec(
        "pause_after_trial",
        "bool",
        "Pause the connection when its free trial ends.",
    ),
    _spec(
        "schema_status",
        "str",
        "Schema status of a connection in the Universal Column Masking flow.",
        allowed=("blocked_on_capture", "ready"),
        status_path=("status", "schema_status"),
    ),
    _spec(
        "is_historical_sync",
        "bool",
        "Start a full historical re-sync (Fivetran resets it to false when done).",
        status_path=("status", "is_historical_sync"),
    ),
    _spec(
        "schedule_type",
        "str",
        "Whether Fivetran schedules syncs (auto) or waits to be triggered (manual).",
        allowed=("auto", "manual"),
    ),
    _spec(
        "run_setup_tests",
        "bool",
        "Run the setup tests after this update (Fivetran's default is true).",
        persistent=False,
        status_path=(),
    ),
    _spec(
        "networking_method",
        "str",
        "How Fivetran reaches the source.",
        allowed=("Directly", "PrivateLink", "SshTunnel", "ProxyAgent"),
        setup_tested=True,
    ),
    _spec(
        "hybrid_deployment_agent_id",
        "str",
        "Hybrid deployment agent to run the connection on.",
        setup_tested=True,
    ),
    _spec("proxy_agent_id", "str", "Proxy agent to route the connection through.", setup_tested=True),
    _spec("private_link_id", "str", "Self-served private link used by the connection.", setup_tested=True),
    _spec(
        "destination_configuration",
        "object",
        "Destination-side settings; the known key is virtual_warehouse (Snowflake).",
        setup_tested=True,
    ),
    _spec(
        "external_secrets_manager_id",
        "str",
        "External secrets manager instance that holds the connection's secrets.",
        setup_tested=True,
    ),
    _spec(
        "external_secrets_keys_config",
        "object",
        "Which setup settings are read from the external secrets manager, and under which keys.",
        may_hold_secrets=True,
        status_path=(),
        setup_tested=True,
    ),
)

FIELDS: Mapping[str, FieldSpec] = MappingProxyType({spec.name: spec for spec in _CATALOGUE})
"""Every field of the Update a Connection body, in the order of Fivetran's API reference."""

FIELD_NAMES: tuple[str, ...] = tuple(FIELDS)
"""The names of :data:`FIELDS`, in catalogue order."""

SECRET_FIELD_NAMES: tuple[str, ...] = tuple(name for name, spec in FIELDS.items() if spec.may_hold_secrets)
"""The fields whose values may carry credentials (``config``, ``auth``, ...), in catalogue order."""

_PERSISTENT_NAMES: tuple[str, ...] = tuple(spec.name for spec in _CATALOGUE if spec.persistent)


class _Invalid(Exception):
    """A value is wrong; the caller turns this into a FivetranValidationError."""

    def __init__(self, problem: str, allowed: str | tuple[Any, ...] | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.allowed = allowed


def _close_match(word: str, candidates: tuple[str, ...]) -> list[str]:
    """The best did-you-mean suggestion, if any (difflib is loaded only when a name is wrong)."""
    import difflib

    return difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)


def _spec_for(name: object) -> FieldSpec:
    if isinstance(name, str) and name in FIELDS:
        return FIELDS[name]
    text = name if isinstance(name, str) else repr(name)
    problem = "unknown field."
    suggestion = _close_match(text, FIELD_NAMES)
    if suggestion:
        problem = f"unknown field; did you mean {suggestion[0]!r}?"
    raise FivetranValidationError(text, problem, ", ".join(FIELD_NAMES))


def _show(spec: FieldSpec, value: Any) -> str:
    """Describe a rejected value for a message, without ever showing a secret."""
    if spec.may_hold_secrets:
        return f"a value of type {type(value).__name__} (not shown: it may hold secrets)"
    text = repr(value)
    if len(text) > _MAX_ECHO:
        text = text[: _MAX_ECHO - 3] + "..."
    return f"{text} ({type(value).__name__})"


def _blank_hint(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in {"", "none", "null"}:
        return (
            " A template that rendered to nothing or to 'None' gives this; pass None instead"
            " to leave the field unchanged."
        )
    return ""


def _to_bool(value: Any, coerce: bool) -> bool:
    if isinstance(value, bool):
        return value
    if coerce:
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
    raise _Invalid("expected a boolean.", _BOOL_FORM if coerce else "true or false (JSON booleans)")


def _to_int(value: Any, coerce: bool) -> int:
    # bool is a subclass of int: True must not become a sync frequency of 1.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # JSON has one number type: 60.0 is the integer 60 to a server that reads it into an int32.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if coerce and isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value.strip())
    form = "a whole number (an int or a string of digits)" if coerce else "a JSON integer"
    raise _Invalid("expected an integer.", form)


def _to_str(value: Any, coerce: bool) -> str:
    # No minimum length: the OpenAPI sets none, so an empty string is sent (with a warning).
    if not isinstance(value, str):
        raise _Invalid("expected a string.", "a string")
    return value.strip() if coerce else value


def _json_copy(value: Any, where: str) -> Any:
    """Copy a JSON-compatible value, refusing anything json.dumps would not write faithfully."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _Invalid(f"{where} holds NaN or infinity, which JSON cannot carry.", _OBJECT_FORM)
        return value
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid(f"{where} has a key of type {type(key).__name__}; keys must be strings.")
            copied[key] = _json_copy(item, f"{where}.{key}")
        return copied
    if isinstance(value, (list, tuple)):
        return [_json_copy(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise _Invalid(
        f"{where} holds a {type(value).__name__}, which is not a JSON value.",
        "strings, numbers, booleans, null, lists and objects",
    )


def _to_object(spec: FieldSpec, value: Any, coerce: bool) -> dict[str, Any]:
    form = _OBJECT_FORM if coerce else _STRICT_OBJECT_FORM
    if coerce and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _Invalid("expected a JSON object; the string is not valid JSON.", form) from None
        if not isinstance(value, dict):
            raise _Invalid(f"expected a JSON object; the string holds a {type(value).__name__}.", form)
    if not isinstance(value, Mapping) or (not coerce and not isinstance(value, dict)):
        raise _Invalid("expected a JSON object.", form)
    copied: dict[str, Any] = _json_copy(value, spec.name)
    if spec.name == "destination_configuration":
        _check_destination_configuration(copied, coerce)
    return copied


def _check_destination_configuration(value: dict[str, Any], coerce: bool) -> None:
    known = tuple(_DESTINATION_CONFIGURATION_KEYS)
    form = "an object with the keys: " + ", ".join(
        f"{key!r} ({kind})" for key, kind in _DESTINATION_CONFIGURATION_KEYS.items()
    )
    for key in list(value):
        if key not in _DESTINATION_CONFIGURATION_KEYS:
            problem = f"unknown key {key!r}."
            suggestion = _close_match(key, known)
            if suggestion:
                problem = f"unknown key {key!r}; did you mean {suggestion[0]!r}?"
            raise _Invalid(problem, form)
        item = value[key]
        if item is None:
            # Same meaning as at the top level: leave that setting unchanged.
            del value[key]
            continue
        if not isinstance(item, str):
            raise _Invalid(f"key {key!r} must be a string, not {item!r}.", form)
        value[key] = item.strip() if coerce else item


def _to_enum(spec: FieldSpec, text: str, coerce: bool) -> str:
    assert spec.allowed is not None
    if text in spec.allowed:
        return text
    if coerce or spec.name == "schema_status":
        by_folded = {str(option).casefold(): option for option in spec.allowed}
        match = by_folded.get(text.casefold())
        if match is not None:
            return str(match)
    raise _Invalid("not an accepted value.", spec.allowed)


def _to_daily_sync_time(value: Any, coerce: bool) -> str:
    text = _to_str(value, coerce)
    match = (_TIME_RE if coerce else _STRICT_TIME_RE).fullmatch(text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise _Invalid("expected a time of day.", _TIME_FORM)
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _convert(spec: FieldSpec, value: Any, coerce: bool) -> Any:
    if spec.kind == "bool":
        return _to_bool(value, coerce)
    if spec.kind == "int":
        number = _to_int(value, coerce)
        if spec.allowed is not None and number not in spec.allowed:
            raise _Invalid("not an accepted value.", spec.allowed)
        # The OpenAPI's only bound is the int32 format; it sets no minimum.
        if not _INT32_MIN <= number <= _INT32_MAX:
            raise _Invalid("out of range.", f"a 32-bit whole number, from {_INT32_MIN} to {_INT32_MAX}")
        return number
    if spec.kind == "object":
        return _to_object(spec, value, coerce)
    if spec.name == "daily_sync_time":
        return _to_daily_sync_time(value, coerce)
    text = _to_str(value, coerce)
    if spec.allowed is not None:
        return _to_enum(spec, text, coerce)
    return text


def _validate(spec: FieldSpec, value: Any, coerce: bool) -> Any:
    try:
        return _convert(spec, value, coerce)
    except _Invalid as invalid:
        problem = f"{invalid.problem} Got {_show(spec, value)}.{_blank_hint(value)}"
        raise FivetranValidationError(spec.name, problem, invalid.allowed) from None


def coerce_value(name: str, value: Any) -> Any:
    """Turn one rendered value into the type Fivetran expects for field ``name``.

    ``None`` is returned unchanged (it means "leave the field unchanged"). Accepted spellings are
    described in the module docstring.

    :param name: a field of :data:`FIELDS`.
    :param value: the value as given or as rendered by Jinja.
    :return: the value to put in the JSON body.
    :raises FivetranValidationError: if the field is unknown or the value cannot be converted.
    """
    spec = _spec_for(name)
    if value is None:
        return None
    return _validate(spec, value, coerce=True)


def build_update_payload(fields: Mapping[str, Any], *, coerce: bool = True) -> dict[str, Any]:
    """Validate the fields of one update and return the JSON body to PATCH.

    :param fields: field names to values; ``None`` values are dropped (left unchanged), but their
        names must still be fields: a misspelt name is reported whatever its value.
    :param coerce: convert rendered strings to the API's types (see :func:`coerce_value`). With
        ``False`` values must already have their JSON types, as in a request Fivetran receives.
    :return: a new dict in catalogue order.
    :raises FivetranValidationError: on an unknown field, a bad value or a broken cross-field rule.
    """
    for name in fields:
        _spec_for(name)
    given = {name: value for name, value in fields.items() if value is not None}
    payload = {name: _validate(FIELDS[name], given[name], coerce) for name in FIELD_NAMES if name in given}
    _check_combinations(payload)
    return payload


def _check_combinations(payload: Mapping[str, Any]) -> None:
    if not payload:
        raise FivetranValidationError(
            "payload",
            "nothing to update: no field was given, or every field was None (None means 'unchanged').",
            "at least one of: " + ", ".join(_PERSISTENT_NAMES),
        )
    if not any(FIELDS[name].persistent for name in payload):
        only = next(iter(payload))
        raise FivetranValidationError(
            only,
            "only steers the setup tests of an update and is not stored, so it cannot be sent without"
            f" a persistent field. To run setup tests without changing the connection, use {_TEST_ENDPOINT}.",
            "together with at least one of: " + ", ".join(_PERSISTENT_NAMES),
        )
    for name in _TRUST_FIELDS:
        if name in payload and payload.get("run_setup_tests") is False:
            raise FivetranValidationError(
                name,
                "only takes effect during setup tests, which run_setup_tests=False turns off.",
                "together with run_setup_tests=True, or without run_setup_tests",
            )


def update_warnings(payload: Mapping[str, Any]) -> list[str]:
    """What in a valid payload Fivetran will accept but not act on, one sentence each.

    :param payload: the output of :func:`build_update_payload`.
    :return: the warnings, empty when there is nothing to say; no value of a secret field is quoted.
    """
    warnings: list[str] = []
    daily_sync_time = payload.get("daily_sync_time")
    if isinstance(daily_sync_time, str) and not daily_sync_time.endswith(":00"):
        warnings.append(
            f"daily_sync_time {daily_sync_time!r} is not on the hour. The OpenAPI's update schema gives"
            " the format 'HH:MM', but its definition for creating a connection allows one-hour"
            " increments only: Fivetran may refuse or round it."
        )
    frequency = payload.get("sync_frequency")
    if "daily_sync_time" in payload and frequency is not None and frequency != _DAILY_SYNC_FREQUENCY:
        warnings.append(
            f"daily_sync_time is sent with sync_frequency={frequency}: Fivetran applies a daily sync time"
            f" only to connections that sync every {_DAILY_SYNC_FREQUENCY} minutes."
        )
    sensitivity = payload.get("data_delay_sensitivity")
    if "data_delay_threshold" in payload and sensitivity is not None and sensitivity != _CUSTOM_SENSITIVITY:
        warnings.append(
            f"data_delay_threshold is sent with data_delay_sensitivity={sensitivity!r}: Fivetran uses the"
            f" threshold only while the sensitivity is {_CUSTOM_SENSITIVITY!r}."
        )
    for name, value in payload.items():
        if value == "" and FIELDS[name].kind == "str":
            warnings.append(
                f"{name} is sent as an empty string. If a template rendered nothing, pass None instead"
                " to leave the field unchanged."
            )
    return warnings


def runs_setup_tests(payload: Mapping[str, Any]) -> bool:
    """Whether Fivetran runs setup tests for this update body (its default is to run them).

    :param payload: a request body, typically the output of :func:`with_setup_test_policy`.
    """
    return payload.get("run_setup_tests", True) is not False


def with_setup_test_policy(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The body to send: ``run_setup_tests: false`` added when the update needs no setup tests.

    Fivetran runs setup tests after every update unless told not to. They take seconds to minutes
    and count against a setup-test rate limit, yet a pause, a resume or a schedule change does
    not alter anything they check. So when the caller did not set ``run_setup_tests`` and no field
    with ``setup_tested`` is sent, the body gets ``run_setup_tests: false``. A value the caller set
    is always kept, and an update touching ``config``, ``auth`` or a networking field is sent as
    given, so Fivetran tests it as it would by default. A trust flag without ``run_setup_tests`` gets
    ``run_setup_tests: true``, which the OpenAPI asks for beside it.

    :param payload: the output of :func:`build_update_payload`.
    :return: a new dict in catalogue order.
    """
    if "run_setup_tests" in payload:
        return dict(payload)
    if any(name in payload for name in _TRUST_FIELDS):
        # The OpenAPI asks for run_setup_tests=true beside a trust flag; it is the default anyway.
        wanted = True
    elif any(FIELDS[name].setup_tested for name in payload):
        return dict(payload)
    else:
        wanted = False
    with_switch = {**payload, "run_setup_tests": wanted}
    return {name: with_switch[name] for name in FIELD_NAMES if name in with_switch}


def current_value(name: str, connection: Mapping[str, Any]) -> Any:
    """Return what a connection's details report for field ``name``.

    :param name: a field of :data:`FIELDS`.
    :param connection: the ``data`` object of ``GET /v1/connections/{id}``.
    :return: the reported value, or ``None`` when the response does not carry it (always the case
        for fields with an empty ``status_path``, such as ``run_setup_tests`` and ``auth``).
    :raises FivetranValidationError: if the field is unknown.
    """
    spec = _spec_for(name)
    if not spec.status_path:
        return None
    node: Any = connection
    for key in spec.status_path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _kind_label(spec: FieldSpec) -> str:
    return {"bool": "boolean", "int": "integer", "str": "string", "object": "object"}[spec.kind]


def _allowed_label(spec: FieldSpec) -> str:
    if spec.allowed is not None:
        return ", ".join(f"`{option}`" for option in spec.allowed)
    if spec.name == "daily_sync_time":
        return "`HH:00` (UTC), `00:00` to `23:00`"
    if spec.name == "data_delay_threshold":
        return "minutes, 0 or more"
    if spec.name == "destination_configuration":
        return ", ".join(f"`{key}`" for key in _DESTINATION_CONFIGURATION_KEYS) + " (keys)"
    if spec.kind == "bool":
        return "`true`, `false`"
    if spec.kind == "object":
        return "JSON object"
    return "non-empty string"


def catalogue_markdown() -> str:
    """Render :data:`FIELDS` as a Markdown table (for the README).

    :return: the table, ending with a newline.
    """
    lines = [
        "| Field | Type | Allowed | Persists | May hold secrets | Description |",
        "|---|---|---|---|---|---|",
    ]
    for spec in _CATALOGUE:
        persists = "yes" if spec.persistent else "no (setup tests only)"
        secret = "yes" if spec.may_hold_secrets else "no"
        lines.append(
            f"| `{spec.name}` | {_kind_label(spec)} | {_allowed_label(spec)} | {persists} | {secret}"
            f" | {spec.doc} |"
        )
    return "\n".join(lines) + "\n"
