"""FivetranUpdateConnectionOperator and FivetranConnectionLink, run by real Airflow against the simulator.

Every DAG here is built in the test and run with ``dag.test()`` (tasks run in this process); what
Airflow stored (task states, XComs, rendered template fields) is read back from the metadata DB.
Nothing of the provider is mocked: the operator talks HTTP to a FivetranSimulator on loopback.

Airflow 3.3's ``dag.test()`` only runs DAGs it finds serialized in a bundle, so :func:`_run` first
writes the test's DAG to the DB (``sync_bag_to_db``), as the DAG processor would.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_fivetran_update._compat import DAG
from airflow_provider_fivetran_update.fields import FIELD_NAMES, FIELDS
from airflow_provider_fivetran_update.operators.fivetran import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    FivetranUpdateConnectionOperator,
    connection_dashboard_url,
)
from airflow_provider_fivetran_update.redaction import SECRET_MASK
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.airflow_helpers import extra_link_url, rendered_fields, run_dag, task_states, xcom

pytestmark = pytest.mark.airflow

START = pendulum.datetime(2026, 1, 1, tz="UTC")
# 07:00 UTC: "business hours" for the templates below.
LOGICAL_DATE = pendulum.datetime(2026, 3, 2, 7, tz="UTC")

# Secrets under names Airflow's own masker does not know (only Fivetran's catalogue does), and one
# it does ("password"), so the test shows the operator's registration is what protects them.
PG_PASSWORD = "pg-password-7f3k2"
CONSUMER_KEY = "consumer-key-9q8w7e"
CLIENT_SECRET = "client-secret-x1y2z3"
MAPPED_CLIENT_ID = "client-id-m4pp3d"
ALL_SECRETS = (PG_PASSWORD, CONSUMER_KEY, CLIENT_SECRET, MAPPED_CLIENT_ID)

NOT_FIELD_ARGS = {
    "self",
    "connection_id",
    "connection_name",
    "group_id",
    "fivetran_conn_id",
    "request_timeout",
    "max_retries",
    "retry_min_wait",
    "retry_max_wait",
    "only_if_changed",
    "dry_run",
    "wait_for_completion",
    "start_sync_if_needed",
    "wait_for_state",
    "poll_interval",
    "timeout",
    "deferrable",
    "kwargs",
}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    with FivetranSimulator() as simulator:
        monkeypatch.setenv("AIRFLOW_CONN_FIVETRAN_DEFAULT", simulator.airflow_connection_json())
        yield simulator


def _dag(dag_id: str, **params: Any) -> Any:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, params=params)


def _run(dag: Any, **kwargs: Any) -> Any:
    return run_dag(dag, logical_date=kwargs.pop("logical_date", LOGICAL_DATE), **kwargs)


def _rendered_fields(dag_run: Any, task_id: str, map_index: int = -1) -> dict[str, Any]:
    """What Airflow stored for the UI's "Rendered Template" view (the RTIF table)."""
    return rendered_fields(dag_run, task_id, map_index)


def _patches(sim: FivetranSimulator, connection_id: str) -> list[Any]:
    return [
        request.json
        for request in sim.requests
        if request.method == "PATCH" and request.path == f"/v1/connections/{connection_id}"
    ]


# -- the operator's shape ------------------------------------------------------------------------


def test_signature_lists_every_catalogue_field_in_order() -> None:
    parameters = inspect.signature(FivetranUpdateConnectionOperator.__init__).parameters
    field_args = [name for name in parameters if name not in NOT_FIELD_ARGS]
    assert tuple(field_args) == FIELD_NAMES
    for name in FIELD_NAMES:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[name].default is None
    assert parameters["connection_id"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["fivetran_conn_id"].default == "fivetran_default"


def test_each_field_argument_is_kept_under_its_own_name() -> None:
    # Templated values skip the parse-time checks, so any text goes; each one names its field.
    values = {name: "{{ '" + name + "' }}" for name in FIELD_NAMES}
    task = FivetranUpdateConnectionOperator(task_id="t", connection_id="c", **values)
    assert {name: getattr(task, name) for name in FIELD_NAMES} == values


def test_every_field_and_the_connection_id_are_templated() -> None:
    assert set(FivetranUpdateConnectionOperator.template_fields) == {
        "connection_id",
        "connection_name",
        "group_id",
        *FIELD_NAMES,
        "wait_for_state",
    }
    object_fields = {name for name, spec in FIELDS.items() if spec.kind == "object"}
    assert object_fields == {"config", "auth", "destination_configuration", "external_secrets_keys_config"}
    assert FivetranUpdateConnectionOperator.template_fields_renderers == dict.fromkeys(object_fields, "json")


def test_construction_does_no_io_and_accepts_jinja_text(sim: FivetranSimulator) -> None:
    operator = FivetranUpdateConnectionOperator(
        task_id="t",
        connection_id="{{ params.connection_id }}",
        paused="{{ params.paused }}",
        sync_frequency="{{ params.freq }}",
        config='{"password": "{{ var.value.pg_password }}"}',
    )
    assert operator.paused == "{{ params.paused }}"
    assert operator.auth is None
    assert "hook" not in operator.__dict__  # the cached hook is made on first use only
    assert sim.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"connection_id": "c"}, "nothing to update"),
        ({"connection_id": " ", "paused": True}, "connection_id"),
        ({"connection_id": "c", "paused": True, "request_timeout": 0}, "request_timeout"),
        ({"connection_id": "c", "paused": True, "max_retries": -1}, "max_retries"),
        ({"connection_id": "c", "paused": True, "retry_min_wait": 5, "retry_max_wait": 1}, "retry_min_wait"),
        ({"connection_id": "c", "paused": True, "wait_for_completion": True}, "is_historical_sync=True"),
        (
            {
                "connection_id": "c",
                "is_historical_sync": True,
                "wait_for_completion": True,
                "wait_for_state": {"sync_state": "scheduled"},
            },
            "not both",
        ),
        ({"connection_id": "c", "paused": True, "wait_for_state": {"state": "x"}}, "'setup_state' and/or"),
        ({"connection_id": "c", "paused": True, "wait_for_state": {}}, "'setup_state' and/or"),
        ({"connection_id": "c", "paused": True, "wait_for_state": {"sync_state": "done"}}, "not a Fivetran"),
        ({"connection_id": "c", "paused": True, "poll_interval": 0}, "poll_interval"),
        ({"connection_id": "c", "paused": True, "timeout": 0}, "timeout"),
    ],
)
def test_cheap_argument_checks_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FivetranUpdateConnectionOperator(task_id="t", **kwargs)


def test_importing_the_operator_loads_no_http_library() -> None:
    # Airflow's own BaseOperator already loads httpx and tenacity (its Task SDK client); what
    # matters is that a DAG file importing the operator loads nothing more.
    code = (
        "import sys\n"
        "from airflow.providers.common.compat.sdk import BaseOperator, BaseOperatorLink\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_fivetran_update.operators.fivetran\n"
        "heavy = {'requests', 'httpx', 'tenacity', 'uvicorn', 'starlette'}\n"
        "loaded = heavy & (set(sys.modules) - before)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def test_dashboard_url_uses_the_connection_id() -> None:
    assert (
        connection_dashboard_url("decent_dropsy")
        == "https://fivetran.com/dashboard/connections/decent_dropsy/status"
    )
    assert connection_dashboard_url("a/b c").endswith("/connections/a%2Fb%20c/status")
    with pytest.raises(ValueError, match="id"):
        connection_dashboard_url("")


def test_link_is_named_fivetran_and_attached() -> None:
    assert FivetranConnectionLink().name == "Fivetran"
    assert any(
        isinstance(link, FivetranConnectionLink)
        for link in FivetranUpdateConnectionOperator.operator_extra_links
    )


# -- running in Airflow --------------------------------------------------------------------------


def test_templated_fields_render_to_api_types(airflow_db: Path, sim: FivetranSimulator) -> None:
    sim.add_connection("conn_tpl", paused=False, sync_frequency=360)
    sim.add_connection("conn_daily", paused=False, sync_frequency=360)
    with _dag("op_templated", connection="conn_tpl", freq=60, paused=True) as dag:
        FivetranUpdateConnectionOperator(
            task_id="update",
            connection_id="{{ params.connection }}",
            sync_frequency="{{ params.freq }}",
            paused="{{ params.paused }}",
        )
        FivetranUpdateConnectionOperator(
            task_id="daily",
            connection_id="conn_daily",
            sync_frequency=1440,
            daily_sync_time="{{ '%02d:00' % logical_date.hour }}",
            schedule_type="{{ 'auto' if 7 <= logical_date.hour < 19 else 'manual' }}",
        )

    dag_run = _run(dag)

    assert task_states(dag_run) == {("update", -1): "success", ("daily", -1): "success"}
    # Exactly the given fields, with the API's JSON types (Jinja rendered them as strings).
    assert _patches(sim, "conn_tpl") == [{"paused": True, "sync_frequency": 60, "run_setup_tests": False}]
    assert _patches(sim, "conn_daily") == [
        {
            "sync_frequency": 1440,
            "daily_sync_time": "07:00",
            "schedule_type": "auto",
            "run_setup_tests": False,
        }
    ]
    state = sim.connection("conn_tpl")
    assert (state["paused"], state["sync_frequency"]) == (True, 60)
    assert sim.connection("conn_daily")["daily_sync_time"] == "07:00"

    returned = xcom(dag_run, "update")
    assert returned["id"] == "conn_tpl"
    assert (returned["paused"], returned["sync_frequency"]) == (True, 60)
    assert _rendered_fields(dag_run, "update")["sync_frequency"] == "60"


def test_invalid_rendered_value_fails_before_any_request(
    airflow_db: Path, sim: FivetranSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.add_connection("conn_bad", paused=False, sync_frequency=360)
    with _dag("op_invalid", freq="sixty") as dag:
        FivetranUpdateConnectionOperator(
            task_id="update", connection_id="conn_bad", sync_frequency="{{ params.freq }}"
        )
        FivetranUpdateConnectionOperator(
            task_id="unknown_enum", connection_id="conn_bad", schedule_type="{{ 'sometimes' }}"
        )

    dag_run = _run(dag)

    assert task_states(dag_run) == {("update", -1): "failed", ("unknown_enum", -1): "failed"}
    assert sim.request_count(method="PATCH") == 0
    assert sim.connection("conn_bad")["sync_frequency"] == 360
    output = capsys.readouterr()
    log = output.out + output.err
    assert "FivetranValidationError" in log
    assert "Invalid Fivetran field 'sync_frequency'" in log
    assert "Invalid Fivetran field 'schedule_type'" in log


def test_unknown_connection_fails_the_task(airflow_db: Path, sim: FivetranSimulator) -> None:
    with _dag("op_missing") as dag:
        FivetranUpdateConnectionOperator(task_id="update", connection_id="no_such_conn", paused=True)

    dag_run = _run(dag)

    assert task_states(dag_run) == {("update", -1): "failed"}
    assert sim.request_count(method="PATCH", path="/v1/connections/no_such_conn") == 1


def test_mapped_over_connection_ids(airflow_db: Path, sim: FivetranSimulator) -> None:
    ids = ["map_a", "map_b", "map_c"]
    for connection_id in ids:
        sim.add_connection(connection_id, paused=False)
    with _dag("op_mapped") as dag:
        FivetranUpdateConnectionOperator.partial(
            task_id="pause", paused=True, config={"client_id": MAPPED_CLIENT_ID}
        ).expand(connection_id=ids)

    dag_run = _run(dag)

    assert task_states(dag_run) == {("pause", index): "success" for index in range(3)}
    for index, connection_id in enumerate(ids):
        assert _patches(sim, connection_id) == [{"config": {"client_id": MAPPED_CLIENT_ID}, "paused": True}]
        assert sim.connection(connection_id)["paused"] is True
        assert xcom(dag_run, "pause", DASHBOARD_URL_XCOM_KEY, index) == (
            f"https://fivetran.com/dashboard/connections/{connection_id}/status"
        )
        assert xcom(dag_run, "pause", map_index=index)["config"]["client_id"] == SECRET_MASK
        # The mapped path renders through the unmapped operator; its secrets are masked too.
        assert _rendered_fields(dag_run, "pause", index)["config"] == {"client_id": "***"}
        assert _rendered_fields(dag_run, "pause", index)["connection_id"] == connection_id


def test_expand_kwargs(airflow_db: Path, sim: FivetranSimulator) -> None:
    for connection_id in ("kw_a", "kw_b", "kw_c"):
        sim.add_connection(connection_id, paused=False, sync_frequency=360)
    with _dag("op_expand_kwargs", freq=120) as dag:
        FivetranUpdateConnectionOperator.partial(task_id="tune").expand_kwargs(
            [
                {"connection_id": "kw_a", "sync_frequency": 60},
                {"connection_id": "kw_b", "sync_frequency": "{{ params.freq }}"},
                {"connection_id": "kw_c", "paused": True, "schedule_type": "manual"},
            ]
        )

    dag_run = _run(dag)

    assert task_states(dag_run) == {("tune", index): "success" for index in range(3)}
    assert _patches(sim, "kw_a") == [{"sync_frequency": 60, "run_setup_tests": False}]
    assert _patches(sim, "kw_b") == [{"sync_frequency": 120, "run_setup_tests": False}]
    assert _patches(sim, "kw_c") == [{"paused": True, "schedule_type": "manual", "run_setup_tests": False}]
    assert sim.connection("kw_b")["sync_frequency"] == 120
    assert sim.connection("kw_c")["schedule_type"] == "manual"


def test_secrets_are_sent_but_never_stored_or_logged(
    airflow_db: Path, sim: FivetranSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.add_connection("conn_secret", service="postgres", config={"host": "db", "password": "old-password"})
    sim.add_connection("conn_secret_json", service="postgres", config={"host": "db"})
    with _dag("op_secrets", consumer_key=CONSUMER_KEY) as dag:
        FivetranUpdateConnectionOperator(
            task_id="rotate",
            connection_id="conn_secret",
            config={
                "host": "db.internal",
                "password": PG_PASSWORD,
                "consumer_key": "{{ params.consumer_key }}",
            },
            auth={"client_access": {"client_id": "app", "client_secret": CLIENT_SECRET}},
        )
        # A JSON text (as from a Variable or an upstream task) is searched for secrets as well.
        FivetranUpdateConnectionOperator(
            task_id="rotate_json",
            connection_id="conn_secret_json",
            config='{"host": "db.internal", "consumer_key": "{{ params.consumer_key }}"}',
        )

    dag_run = _run(dag)

    assert task_states(dag_run) == {("rotate", -1): "success", ("rotate_json", -1): "success"}
    # Fivetran gets the real values...
    assert _patches(sim, "conn_secret") == [
        {
            "config": {"host": "db.internal", "password": PG_PASSWORD, "consumer_key": CONSUMER_KEY},
            "auth": {"client_access": {"client_id": "app", "client_secret": CLIENT_SECRET}},
        }
    ]
    assert sim.raw_connection("conn_secret")["config"]["password"] == PG_PASSWORD

    # ...the return value XCom (stored in the DB, shown in the UI) has them masked...
    returned = xcom(dag_run, "rotate")
    assert returned["config"]["host"] == "db.internal"
    assert returned["config"]["password"] == SECRET_MASK
    assert returned["config"]["consumer_key"] == SECRET_MASK

    # ...the rendered template fields Airflow stored for the UI have them masked (consumer_key and
    # client_secret are only known as secrets through the operator's mask_secret registration)...
    rendered = _rendered_fields(dag_run, "rotate")
    assert rendered["config"] == {"consumer_key": "***", "host": "db.internal", "password": "***"}
    assert rendered["auth"]["client_access"]["client_secret"] == "***"
    rendered_json = _rendered_fields(dag_run, "rotate_json")["config"]
    assert rendered_json == '{"host": "db.internal", "consumer_key": "***"}'
    assert _patches(sim, "conn_secret_json") == [
        {"config": {"host": "db.internal", "consumer_key": CONSUMER_KEY}}
    ]

    # ...the link points at the connection, and the task log shows what was sent, masked.
    url = "https://fivetran.com/dashboard/connections/conn_secret/status"
    assert xcom(dag_run, "rotate", DASHBOARD_URL_XCOM_KEY) == url
    assert extra_link_url(dag_run, "rotate", FivetranConnectionLink()) == url
    output = capsys.readouterr()
    log = output.out + output.err
    assert "Updated Fivetran connection conn_secret" in log
    assert "setup_state=connected" in log
    stored = repr(returned) + repr(rendered) + repr(xcom(dag_run, "rotate_json"))
    for secret in ALL_SECRETS[:3]:
        assert secret not in log
        assert secret not in stored
