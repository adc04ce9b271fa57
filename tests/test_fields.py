"""The field catalogue: coercion, validation, cross-field rules, and agreement with Fivetran's spec."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.fields import (
    FIELD_NAMES,
    FIELDS,
    FieldSpec,
    build_update_payload,
    catalogue_markdown,
    coerce_value,
    current_value,
    runs_setup_tests,
    update_warnings,
    with_setup_test_policy,
)
from tests.fidelity.documents import documents_available, openapi_example_body, reference_example_body

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "fivetran"
FULL_SPEC = SPEC_DIR / "fivetran-openapi.json"

SPEC_FIELD_NAMES = (
    "config",
    "auth",
    "paused",
    "trust_certificates",
    "trust_fingerprints",
    "sync_frequency",
    "data_delay_threshold",
    "data_delay_sensitivity",
    "daily_sync_time",
    "pause_after_trial",
    "schema_status",
    "is_historical_sync",
    "schedule_type",
    "run_setup_tests",
    "networking_method",
    "hybrid_deployment_agent_id",
    "proxy_agent_id",
    "private_link_id",
    "destination_configuration",
    "external_secrets_manager_id",
    "external_secrets_keys_config",
)
BOOL_FIELDS = ("paused", "pause_after_trial", "is_historical_sync")


def _error(fields: dict[str, Any], *, coerce: bool = True) -> FivetranValidationError:
    with pytest.raises(FivetranValidationError) as info:
        build_update_payload(fields, coerce=coerce)
    return info.value


# --- the catalogue itself -------------------------------------------------------------------------


def test_catalogue_lists_every_field_in_reference_order() -> None:
    assert FIELD_NAMES == SPEC_FIELD_NAMES
    assert tuple(FIELDS) == FIELD_NAMES
    assert all(name == spec.name for name, spec in FIELDS.items())


def test_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        FIELDS["new"] = FIELDS["paused"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        FIELDS["paused"].kind = "int"  # type: ignore[misc]


def test_field_spec_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        FieldSpec("x", "float", None, True, False, ("x",), "doc")


def test_only_setup_test_fields_are_not_persistent() -> None:
    transient = {name for name, spec in FIELDS.items() if not spec.persistent}
    assert transient == {"run_setup_tests", "trust_certificates", "trust_fingerprints"}


def test_secret_bearing_fields() -> None:
    secret = {name for name, spec in FIELDS.items() if spec.may_hold_secrets}
    assert secret == {"config", "auth", "external_secrets_keys_config"}


def test_status_paths() -> None:
    assert FIELDS["is_historical_sync"].status_path == ("status", "is_historical_sync")
    assert FIELDS["schema_status"].status_path == ("status", "schema_status")
    assert FIELDS["paused"].status_path == ("paused",)
    for name in ("run_setup_tests", "trust_certificates", "trust_fingerprints", "auth"):
        assert FIELDS[name].status_path == ()


def test_every_doc_is_one_line() -> None:
    for spec in FIELDS.values():
        assert spec.doc and "\n" not in spec.doc, spec.name


def test_catalogue_markdown_has_a_row_per_field() -> None:
    table = catalogue_markdown()
    lines = table.strip().splitlines()
    assert lines[0].startswith("| Field | Type | Allowed | Persists | May hold secrets |")
    assert len(lines) == 2 + len(FIELDS)
    assert "| `sync_frequency` | integer | `1`, `5`, `15`" in table
    assert "| `run_setup_tests` | boolean | `true`, `false` | no (setup tests only) | no |" in table
    assert "| `config` | object | JSON object | yes | yes |" in table


# --- coercion -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        (" true\n", True),
        ("yes", True),
        ("on", True),
        ("1", True),
        (1, True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("off", False),
        ("0", False),
        (0, False),
    ],
)
def test_coerce_bool(text: Any, expected: bool) -> None:
    assert coerce_value("paused", text) is expected


@pytest.mark.parametrize("bad", ["maybe", "2", "t", "", "None", 2, 1.0, [True]])
def test_coerce_bool_rejects(bad: Any) -> None:
    with pytest.raises(FivetranValidationError) as info:
        coerce_value("paused", bad)
    message = str(info.value)
    assert "Invalid Fivetran field 'paused': expected a boolean." in message
    assert f"Got {bad!r}" in message
    assert "Allowed: true or false (also yes/no, on/off, 1/0, any case)." in message


def test_rendered_none_gets_a_hint() -> None:
    with pytest.raises(FivetranValidationError, match="pass None instead to leave the field unchanged"):
        coerce_value("is_historical_sync", "None")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(60, 60), ("60", 60), (" 60 ", 60), ("1440\n", 1440), ("+5", 5), ("0015", 15)],
)
def test_coerce_sync_frequency(text: Any, expected: int) -> None:
    assert coerce_value("sync_frequency", text) == expected
    assert type(coerce_value("sync_frequency", text)) is int


@pytest.mark.parametrize("bad", ["60.5", "60.0", 60.5, "sixty", "", "6 0", True, False, [60]])
def test_coerce_int_rejects_non_integers(bad: Any) -> None:
    with pytest.raises(FivetranValidationError) as info:
        coerce_value("sync_frequency", bad)
    message = str(info.value)
    assert "Invalid Fivetran field 'sync_frequency': expected an integer." in message
    assert f"Got {bad!r}" in message
    assert "Allowed: a whole number (an int or a string of digits)." in message


@pytest.mark.parametrize("bad", [7, "45", 0, 2880])
def test_sync_frequency_outside_the_allowed_set(bad: Any) -> None:
    message = str(_error({"sync_frequency": bad}))
    assert "Invalid Fivetran field 'sync_frequency': not an accepted value." in message
    assert "Allowed: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440." in message


@pytest.mark.parametrize(
    ("text", "expected"),
    # The OpenAPI gives the threshold an int32 format and no minimum: a negative value is Fivetran's
    # to judge, so it is sent.
    [("0", 0), (" 90 ", 90), (2**31 - 1, 2**31 - 1), (-1, -1), ("-5", -5), (-(2**31), -(2**31))],
)
def test_coerce_data_delay_threshold(text: Any, expected: int) -> None:
    assert coerce_value("data_delay_threshold", text) == expected
    assert build_update_payload({"data_delay_threshold": text}, coerce=not isinstance(text, int))


@pytest.mark.parametrize("bad", [2**31, -(2**31) - 1, "99999999999"])
def test_data_delay_threshold_beyond_int32(bad: Any) -> None:
    message = str(_error({"data_delay_threshold": bad}))
    assert "Invalid Fivetran field 'data_delay_threshold': out of range." in message
    assert "Allowed: a 32-bit whole number, from -2147483648 to 2147483647." in message


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("schema_status", "BLOCKED_ON_CAPTURE", "blocked_on_capture"),
        ("schema_status", "blocked_on_capture", "blocked_on_capture"),
        ("schema_status", " Ready ", "ready"),
        ("networking_method", "directly", "Directly"),
        ("networking_method", "SSHTUNNEL", "SshTunnel"),
        ("networking_method", "privatelink", "PrivateLink"),
        ("networking_method", "ProxyAgent", "ProxyAgent"),
        ("schedule_type", "MANUAL", "manual"),
        ("schedule_type", "auto", "auto"),
        ("data_delay_sensitivity", "custom", "CUSTOM"),
        ("data_delay_sensitivity", "sync_frequency", "SYNC_FREQUENCY"),
    ],
)
def test_enums_are_matched_case_insensitively(name: str, text: str, expected: str) -> None:
    assert coerce_value(name, text) == expected


@pytest.mark.parametrize(
    ("name", "bad", "allowed"),
    [
        ("schedule_type", "automatic", "Allowed: 'auto', 'manual'."),
        ("schema_status", "blocked", "Allowed: 'blocked_on_capture', 'ready'."),
        (
            "networking_method",
            "Vpn",
            "Allowed: 'Directly', 'PrivateLink', 'SshTunnel', 'ProxyAgent'.",
        ),
        (
            "data_delay_sensitivity",
            "MEDIUM",
            "Allowed: 'LOW', 'NORMAL', 'HIGH', 'CUSTOM', 'SYNC_FREQUENCY'.",
        ),
    ],
)
def test_enum_rejects_unknown_values(name: str, bad: str, allowed: str) -> None:
    message = str(_error({name: bad}))
    assert f"Invalid Fivetran field {name!r}: not an accepted value. Got {bad!r} (str)." in message
    assert allowed in message


def test_enum_rejects_non_strings() -> None:
    message = str(_error({"schedule_type": 1}))
    assert "Invalid Fivetran field 'schedule_type': expected a string. Got 1 (int)." in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:00", "14:00"),
        ("00:00", "00:00"),
        ("23:00", "23:00"),
        ("9:00", "09:00"),
        (" 07:00 ", "07:00"),
        # The update schema's format is HH:MM; off the hour it is sent with a warning.
        ("14:30", "14:30"),
        ("23:59", "23:59"),
    ],
)
def test_coerce_daily_sync_time(text: str, expected: str) -> None:
    assert coerce_value("daily_sync_time", text) == expected


def test_integral_numbers_are_integers() -> None:
    assert build_update_payload({"sync_frequency": 60.0, "data_delay_threshold": 15.0}, coerce=False) == {
        "sync_frequency": 60,
        "data_delay_threshold": 15,
    }


def test_daily_sync_time_off_the_hour_is_sent_with_a_warning() -> None:
    payload = build_update_payload({"daily_sync_time": "14:30", "sync_frequency": 1440})
    (warning,) = update_warnings(payload)
    assert "daily_sync_time '14:30' is not on the hour" in warning
    assert "one-hour increments" in warning


@pytest.mark.parametrize("bad", ["24:00", "14:60", "14", "2pm", "14:00:00", "", "1400", 14])
def test_daily_sync_time_rejects_other_forms(bad: Any) -> None:
    message = str(_error({"daily_sync_time": bad}))
    assert "Invalid Fivetran field 'daily_sync_time':" in message
    assert f"Got {bad!r}" in message


def test_daily_sync_time_names_the_accepted_form() -> None:
    message = str(_error({"daily_sync_time": "25:00"}))
    assert "expected a time of day" in message
    assert (
        "Allowed: a UTC time 'HH:MM' from '00:00' to '23:59'; Fivetran starts daily syncs on the hour"
        in message
    )


@pytest.mark.parametrize(
    "name", ["hybrid_deployment_agent_id", "proxy_agent_id", "private_link_id", "external_secrets_manager_id"]
)
def test_id_fields(name: str) -> None:
    assert coerce_value(name, " agent_1 ") == "agent_1"
    message = str(_error({name: 42}))
    assert f"Invalid Fivetran field {name!r}: expected a string. Got 42 (int). Allowed: a string." in message


@pytest.mark.parametrize("name", ["config", "auth", "external_secrets_keys_config"])
def test_object_fields_accept_dicts_and_json_strings(name: str) -> None:
    assert coerce_value(name, {"a": [1, {"b": None}]}) == {"a": [1, {"b": None}]}
    assert coerce_value(name, '{"a": 1}') == {"a": 1}


def test_object_values_are_copied() -> None:
    given = {"schemas": ["a"]}
    copied = coerce_value("config", given)
    copied["schemas"].append("b")
    assert given == {"schemas": ["a"]}


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("{not json", "expected a JSON object; the string is not valid JSON."),
        ('["a"]', "expected a JSON object; the string holds a list."),
        ("42", "expected a JSON object; the string holds a int."),
        (42, "expected a JSON object."),
        (["a"], "expected a JSON object."),
    ],
)
def test_object_fields_reject_non_objects(bad: Any, problem: str) -> None:
    message = str(_error({"destination_configuration": bad}))
    assert f"Invalid Fivetran field 'destination_configuration': {problem}" in message
    assert "Allowed: a JSON object (a dict, or a string holding a JSON object)." in message


def test_object_fields_reject_values_json_cannot_carry() -> None:
    message = str(_error({"config": {"when": object()}}))
    assert "config.when holds a object, which is not a JSON value." in message
    message = str(_error({"config": {"ratio": float("nan")}}))
    assert "config.ratio holds NaN or infinity" in message
    message = str(_error({"config": {1: "a"}}))
    assert "config has a key of type int; keys must be strings." in message


def test_destination_configuration() -> None:
    assert coerce_value("destination_configuration", '{"virtual_warehouse": "wh"}') == {
        "virtual_warehouse": "wh"
    }
    assert coerce_value("destination_configuration", {"virtual_warehouse": None}) == {}


def test_destination_configuration_unknown_key_suggests() -> None:
    message = str(_error({"destination_configuration": {"virtual_warehose": "wh"}}))
    assert (
        "Invalid Fivetran field 'destination_configuration': unknown key 'virtual_warehose';"
        " did you mean 'virtual_warehouse'?"
    ) in message
    assert "Allowed: an object with the keys: 'virtual_warehouse' (str)." in message


def test_destination_configuration_value_must_be_a_string() -> None:
    message = str(_error({"destination_configuration": {"virtual_warehouse": 3}}))
    assert "key 'virtual_warehouse' must be a string, not 3." in message
    # The schema sets no minimum length.
    assert coerce_value("destination_configuration", {"virtual_warehouse": ""}) == {"virtual_warehouse": ""}


def test_coerce_value_passes_none_through() -> None:
    assert coerce_value("sync_frequency", None) is None


def test_coerce_value_unknown_field() -> None:
    with pytest.raises(FivetranValidationError, match="did you mean 'paused'"):
        coerce_value("pasued", True)


# --- the whole payload ----------------------------------------------------------------------------


def test_payload_is_a_new_dict_in_catalogue_order() -> None:
    given = {"sync_frequency": "1440", "paused": "false", "config": '{"host": "db"}'}
    payload = build_update_payload(given)
    assert payload == {"config": {"host": "db"}, "paused": False, "sync_frequency": 1440}
    assert list(payload) == ["config", "paused", "sync_frequency"]
    assert given["paused"] == "false"


def test_none_values_are_dropped() -> None:
    payload = build_update_payload({"paused": True, "sync_frequency": None, "config": None})
    assert payload == {"paused": True}


def test_unknown_field_suggests_the_closest_name() -> None:
    error = _error({"sync_frequncy": 60})
    message = str(error)
    assert error.field == "sync_frequncy"
    assert "Invalid Fivetran field 'sync_frequncy': unknown field; did you mean 'sync_frequency'?" in message
    assert "Allowed: config, auth, paused," in message
    assert "external_secrets_keys_config." in message


def test_unknown_field_without_a_close_match() -> None:
    message = str(_error({"colour": "red", "paused": True}))
    assert "Invalid Fivetran field 'colour': unknown field. Allowed: config," in message
    assert "did you mean" not in message


def test_unknown_field_is_reported_even_when_none() -> None:
    # A misspelt name is a mistake whatever its value; catching it beats silently ignoring it.
    message = str(_error({"paused": True, "sync_frequncy": None}))
    assert "did you mean 'sync_frequency'?" in message


def test_empty_payload_is_rejected() -> None:
    message = str(_error({}))
    assert "Invalid Fivetran field 'payload': nothing to update" in message
    assert "Allowed: at least one of: config, auth, paused, sync_frequency" in message


def test_payload_of_only_none_is_rejected() -> None:
    message = str(_error({"paused": None}))
    assert "nothing to update: no field was given, or every field was None" in message


@pytest.mark.parametrize(
    "fields",
    [
        {"run_setup_tests": True},
        {"run_setup_tests": "true", "trust_certificates": "true"},
        {"run_setup_tests": True, "trust_fingerprints": True, "trust_certificates": True},
    ],
)
def test_only_setup_test_fields_are_rejected(fields: dict[str, Any]) -> None:
    message = str(_error(fields))
    assert "cannot be sent without a persistent field" in message
    assert "use POST /v1/connections/{id}/test." in message
    assert "Allowed: together with at least one of: config, auth, paused" in message


@pytest.mark.parametrize("name", ["trust_certificates", "trust_fingerprints"])
@pytest.mark.parametrize("run_setup_tests", [False, "false"])
def test_trust_fields_refuse_run_setup_tests_false(name: str, run_setup_tests: Any) -> None:
    message = str(_error({"paused": False, name: True, "run_setup_tests": run_setup_tests}))
    assert f"Invalid Fivetran field {name!r}: only takes effect during setup tests" in message
    assert "which run_setup_tests=False turns off" in message
    assert "Allowed: together with run_setup_tests=True, or without run_setup_tests." in message


@pytest.mark.parametrize("name", ["trust_certificates", "trust_fingerprints"])
def test_trust_fields_without_run_setup_tests_are_sent_with_it(name: str) -> None:
    # run_setup_tests defaults to true; the OpenAPI asks for it beside a trust flag, so it is sent.
    payload = build_update_payload({"paused": False, name: True})
    assert payload == {"paused": False, name: True}
    assert with_setup_test_policy(payload) == {"paused": False, name: True, "run_setup_tests": True}
    with_config = build_update_payload({"config": {"host": "db"}, name: True})
    assert with_setup_test_policy(with_config)["run_setup_tests"] is True


def test_trust_fields_with_run_setup_tests_and_a_persistent_field() -> None:
    payload = build_update_payload(
        {
            "config": {"host": "db"},
            "run_setup_tests": "yes",
            "trust_certificates": "1",
            "trust_fingerprints": 1,
        }
    )
    assert payload == {
        "config": {"host": "db"},
        "trust_certificates": True,
        "trust_fingerprints": True,
        "run_setup_tests": True,
    }


@pytest.mark.parametrize("frequency", [60, "360", 1])
def test_daily_sync_time_with_another_frequency_is_sent_with_a_warning(frequency: Any) -> None:
    # Neither document refuses the pair: the create schema says the time applies when the
    # frequency "is already set or being set by the current request to 1440".
    payload = build_update_payload({"daily_sync_time": "14:00", "sync_frequency": frequency})
    assert payload == {"sync_frequency": int(frequency), "daily_sync_time": "14:00"}
    (warning,) = update_warnings(payload)
    assert f"daily_sync_time is sent with sync_frequency={int(frequency)}" in warning
    assert "only to connections that sync every 1440 minutes" in warning


def test_daily_sync_time_with_1440_or_alone() -> None:
    both = build_update_payload({"daily_sync_time": "14:00", "sync_frequency": "1440"})
    assert both == {"sync_frequency": 1440, "daily_sync_time": "14:00"}
    assert update_warnings(both) == []
    # Alone, the stored frequency decides (the hook warns after the answer if it is not 1440).
    alone = build_update_payload({"daily_sync_time": "3:00"})
    assert alone == {"daily_sync_time": "03:00"}
    assert update_warnings(alone) == []


@pytest.mark.parametrize("sensitivity", ["LOW", "normal", "SYNC_FREQUENCY"])
def test_threshold_with_a_non_custom_sensitivity_is_sent_with_a_warning(sensitivity: str) -> None:
    # The reference says the threshold "is only used when data_delay_sensitivity set to CUSTOM":
    # unused, not refused.
    payload = build_update_payload({"data_delay_threshold": 30, "data_delay_sensitivity": sensitivity})
    assert payload == {"data_delay_threshold": 30, "data_delay_sensitivity": sensitivity.upper()}
    (warning,) = update_warnings(payload)
    assert f"data_delay_threshold is sent with data_delay_sensitivity={sensitivity.upper()!r}" in warning
    assert "only while the sensitivity is 'CUSTOM'" in warning


def test_threshold_with_custom_sensitivity_or_alone() -> None:
    both = build_update_payload({"data_delay_threshold": "30", "data_delay_sensitivity": "custom"})
    assert both == {"data_delay_threshold": 30, "data_delay_sensitivity": "CUSTOM"}
    assert build_update_payload({"data_delay_threshold": 0}) == {"data_delay_threshold": 0}
    assert update_warnings(both) == []


@pytest.mark.parametrize("name", ["proxy_agent_id", "hybrid_deployment_agent_id", "private_link_id"])
@pytest.mark.parametrize("coerce", [True, False])
def test_an_empty_id_is_sent_with_a_warning(name: str, coerce: bool) -> None:
    # The OpenAPI sets no minimum length on these strings.
    payload = build_update_payload({name: ""}, coerce=coerce)
    assert payload == {name: ""}
    (warning,) = update_warnings(payload)
    assert f"{name} is sent as an empty string" in warning
    assert "pass None instead" in warning


def test_an_empty_enum_is_still_refused() -> None:
    message = str(_error({"schedule_type": ""}))
    assert "Invalid Fivetran field 'schedule_type': not an accepted value." in message
    assert "Allowed: 'auto', 'manual'." in message


@pytest.mark.skipif(not documents_available(), reason="Fivetran's documents are not on this machine")
@pytest.mark.parametrize("coerce", [True, False])
def test_the_reference_example_request_is_accepted_as_written(coerce: bool) -> None:
    example = reference_example_body()
    assert example["data_delay_sensitivity"] == "LOW"  # the pair the hook used to refuse
    payload = build_update_payload(example, coerce=coerce)
    # config and auth are null in the example: None means "unchanged", so they are not sent.
    assert set(payload) == {name for name, value in example.items() if value is not None}
    assert payload["schema_status"] == "blocked_on_capture"
    assert payload["data_delay_threshold"] == 0
    assert update_warnings(payload) == [
        "data_delay_threshold is sent with data_delay_sensitivity='LOW': Fivetran uses the threshold"
        " only while the sensitivity is 'CUSTOM'."
    ]


@pytest.mark.skipif(not documents_available(), reason="Fivetran's documents are not on this machine")
def test_the_openapi_examples_are_accepted() -> None:
    example = openapi_example_body()
    assert build_update_payload(example, coerce=False)["sync_frequency"] == 1440


def test_there_is_no_schedule_object_on_connections() -> None:
    # The OpenAPI's schedule object belongs to transformations; connections have schedule_type.
    error = _error({"schedule": {"schedule_type": "INTERVAL", "interval": 60}})
    assert error.field == "schedule"
    assert "unknown field; did you mean 'schedule_type'?" in str(error)
    assert "Allowed: config, auth, paused," in str(error)


@pytest.mark.parametrize(
    ("fields", "expected", "refused_as"),
    [
        ({"paused": "true"}, {"paused": True}, "'paused': expected a boolean."),
        ({"sync_frequency": "60"}, {"sync_frequency": 60}, "'sync_frequency': expected an integer."),
        (
            {"data_delay_threshold": " 15 "},
            {"data_delay_threshold": 15},
            "'data_delay_threshold': expected an",
        ),
        (
            {"pause_after_trial": "0"},
            {"pause_after_trial": False},
            "'pause_after_trial': expected a boolean.",
        ),
    ],
)
def test_string_typed_numbers_and_booleans(
    fields: dict[str, Any], expected: dict[str, Any], refused_as: str
) -> None:
    # The OpenAPI types them as integer and boolean: a rendered string is sent as that type, and a
    # raw body carrying the string is refused, as the schema does.
    assert build_update_payload(fields) == expected
    assert f"Invalid Fivetran field {refused_as}" in str(_error(fields, coerce=False))


# --- setup-test policy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"paused": True},
        {"paused": False},
        {"sync_frequency": 60, "daily_sync_time": "03:00"},
        {"schedule_type": "manual"},
        {"is_historical_sync": True},
        {"data_delay_sensitivity": "HIGH", "pause_after_trial": True, "schema_status": "ready"},
    ],
)
def test_updates_the_setup_tests_do_not_check_turn_them_off(fields: dict[str, Any]) -> None:
    payload = with_setup_test_policy(build_update_payload(fields))
    assert payload == {**build_update_payload(fields), "run_setup_tests": False}
    assert list(payload) == [name for name in FIELD_NAMES if name in payload]
    assert runs_setup_tests(payload) is False


@pytest.mark.parametrize("name", [name for name, spec in FIELDS.items() if spec.setup_tested])
def test_updates_of_tested_fields_keep_fivetrans_default(name: str) -> None:
    value = {"bool": True, "int": 1, "str": "Directly", "object": {}}[FIELDS[name].kind]
    payload = build_update_payload({name: value, "paused": False})
    assert with_setup_test_policy(payload) == payload
    assert runs_setup_tests(payload) is True


def test_setup_tested_fields() -> None:
    assert {name for name, spec in FIELDS.items() if spec.setup_tested} == {
        "config",
        "auth",
        "networking_method",
        "hybrid_deployment_agent_id",
        "proxy_agent_id",
        "private_link_id",
        "destination_configuration",
        "external_secrets_manager_id",
        "external_secrets_keys_config",
    }


@pytest.mark.parametrize("value", [True, False])
def test_the_callers_run_setup_tests_is_kept(value: bool) -> None:
    for fields in (
        {"paused": True, "run_setup_tests": value},
        {"config": {"a": 1}, "run_setup_tests": value},
    ):
        payload = build_update_payload(fields)
        assert with_setup_test_policy(payload)["run_setup_tests"] is value
        assert runs_setup_tests(payload) is value


# --- strict mode (the simulator's view of a request) ----------------------------------------------


def test_strict_mode_rejects_a_string_integer() -> None:
    message = str(_error({"sync_frequency": "60"}, coerce=False))
    assert "Invalid Fivetran field 'sync_frequency': expected an integer. Got '60' (str)." in message
    assert "Allowed: a JSON integer." in message


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"paused": "true"}, "expected a boolean."),
        ({"paused": 1}, "expected a boolean."),
        ({"sync_frequency": True}, "expected an integer."),
        ({"config": '{"a": 1}'}, "expected a JSON object."),
        ({"networking_method": "directly"}, "not an accepted value."),
        ({"schedule_type": "AUTO"}, "not an accepted value."),
        ({"daily_sync_time": "9:00"}, "expected a time of day"),
    ],
)
def test_strict_mode_checks_json_types_and_exact_values(fields: dict[str, Any], problem: str) -> None:
    assert problem in str(_error(fields, coerce=False))


def test_strict_mode_keeps_valid_json() -> None:
    body = {"paused": True, "sync_frequency": 60, "config": {"a": 1}, "schema_status": "READY"}
    assert build_update_payload(body, coerce=False) == {
        "config": {"a": 1},
        "paused": True,
        "sync_frequency": 60,
        "schema_status": "ready",
    }


def test_strict_mode_shows_the_strict_form_for_booleans() -> None:
    message = str(_error({"paused": "true"}, coerce=False))
    assert "Allowed: true or false (JSON booleans)." in message


# --- secrets never appear in messages -------------------------------------------------------------

SECRET = "hunter2-very-secret"


@pytest.mark.parametrize("name", ["config", "auth", "external_secrets_keys_config"])
@pytest.mark.parametrize("value", [f"password={SECRET}", f'["{SECRET}"]', 12345678, [SECRET]])
def test_secret_bearing_values_are_never_echoed(name: str, value: Any) -> None:
    message = str(_error({name: value}))
    assert SECRET not in message
    assert "12345678" not in message
    assert "not shown: it may hold secrets" in message


def test_secret_in_config_is_not_echoed_by_cross_field_errors() -> None:
    fields = {"config": {"password": SECRET}, "trust_certificates": True, "run_setup_tests": False}
    message = str(_error(fields))
    assert "which run_setup_tests=False turns off" in message
    assert SECRET not in message


def test_warnings_never_quote_a_secret() -> None:
    payload = build_update_payload(
        {"config": {"password": SECRET}, "daily_sync_time": "14:00", "sync_frequency": 60}
    )
    assert update_warnings(payload)
    assert not any(SECRET in warning for warning in update_warnings(payload))


def test_rendered_none_hint_for_a_secret_field_does_not_echo() -> None:
    message = str(_error({"auth": "None"}))
    assert "pass None instead" in message
    assert "Got a value of type str (not shown" in message


# --- current values -------------------------------------------------------------------------------

CONNECTION = {
    "id": "conn_a",
    "paused": True,
    "sync_frequency": 360,
    "daily_sync_time": None,
    "schedule_type": "auto",
    "status": {"setup_state": "connected", "is_historical_sync": False, "schema_status": "ready"},
    "config": {"host": "db"},
}


def test_current_value_follows_status_path() -> None:
    assert current_value("paused", CONNECTION) is True
    assert current_value("sync_frequency", CONNECTION) == 360
    assert current_value("is_historical_sync", CONNECTION) is False
    assert current_value("schema_status", CONNECTION) == "ready"
    assert current_value("config", CONNECTION) == {"host": "db"}


def test_current_value_of_unreported_fields_is_none() -> None:
    assert current_value("run_setup_tests", CONNECTION) is None
    assert current_value("auth", CONNECTION) is None
    assert current_value("proxy_agent_id", CONNECTION) is None
    assert current_value("is_historical_sync", {"status": None}) is None
    assert current_value("is_historical_sync", {}) is None


def test_current_value_unknown_field() -> None:
    with pytest.raises(FivetranValidationError, match="did you mean 'schedule_type'"):
        current_value("schedul_type", CONNECTION)


# --- agreement with Fivetran's OpenAPI spec -------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not FULL_SPEC.is_file():
        pytest.skip(f"Fivetran's OpenAPI spec is not available at {FULL_SPEC} (only shipped to developers)")
    loaded: dict[str, Any] = json.loads(FULL_SPEC.read_text(encoding="utf-8"))
    return loaded


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return _schema(spec, ref.rsplit("/", 1)[-1])
    return node


def test_catalogue_matches_the_update_request_schema(spec: dict[str, Any]) -> None:
    properties = _schema(spec, "UpdateConnectorRequest")["properties"]
    assert tuple(properties) == FIELD_NAMES


def test_catalogue_types_and_enums_match_the_spec(spec: dict[str, Any]) -> None:
    properties = _schema(spec, "UpdateConnectorRequest")["properties"]
    json_types = {"boolean": "bool", "integer": "int", "string": "str", "object": "object"}
    for name, prop in properties.items():
        prop = _resolve(spec, prop)
        field = FIELDS[name]
        expected_kind = json_types.get(prop.get("type", "object"))
        assert field.kind == expected_kind, name
        enum = prop.get("enum")
        if enum is None:
            assert field.allowed is None, name
        else:
            # The spec lists sync_frequency's values as strings on an integer type; we send ints.
            assert field.allowed is not None, name
            assert [str(value) for value in field.allowed] == [str(value) for value in enum], name
            if field.kind == "int":
                assert all(type(value) is int for value in field.allowed), name


def test_destination_configuration_keys_match_the_spec(spec: dict[str, Any]) -> None:
    properties = _schema(spec, "DestinationConfiguration")["properties"]
    assert set(properties) == {"virtual_warehouse"}
    assert coerce_value("destination_configuration", {"virtual_warehouse": "wh"}) == {
        "virtual_warehouse": "wh"
    }


def test_status_paths_match_the_connection_response(spec: dict[str, Any]) -> None:
    response = _schema(spec, "ConnectorResponseV1")["properties"]
    status = _schema(spec, "ConnectorStatusResponse")["properties"]
    for name, field in FIELDS.items():
        if name in status:
            expected: tuple[str, ...] = ("status", name)
        elif name in response or name == "config":
            # The schema leaves config out, but the reference example and real answers carry it.
            expected = (name,)
        else:
            expected = ()
        assert field.status_path == expected, name
