"""Mistakes a DAG file makes literally fail when the file is imported, not hours later at run time.

Each DAG file is written to a temporary folder and imported by a real ``DagBag``, as the DAG
processor does: the import error must name the field and the accepted values. Templated values
still wait for rendering, and a failed validation before any request leaves the "Fivetran" link
working (or absent) without a missing-XCom error in the log.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.fields import FIELD_NAMES
from airflow_provider_fivetran_update.operators.fivetran import (
    DASHBOARD_URL_XCOM_KEY,
    FivetranConnectionLink,
    FivetranUpdateConnectionOperator,
)
from airflow_provider_fivetran_update.testing import FivetranSimulator

DAG_TEMPLATE = """
from __future__ import annotations

import pendulum
from airflow_provider_fivetran_update._compat import DAG

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator

with DAG("parse_check", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    FivetranUpdateConnectionOperator(task_id="update", connection_id="conn_a", {arguments})
"""


def _import_errors(tmp_path: Path, arguments: str) -> str:
    """Import a DAG file declaring the operator with ``arguments``; return the import error text."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]

    folder = tmp_path / "dags"
    folder.mkdir(exist_ok=True)
    (folder / "parse_check.py").write_text(textwrap.dedent(DAG_TEMPLATE.format(arguments=arguments)))
    bag = DagBag(dag_folder=str(folder))
    return "\n".join(str(error) for error in bag.import_errors.values())


@pytest.mark.parametrize(
    ("arguments", "field", "allowed"),
    [
        (
            "sync_frequency=45",
            "'sync_frequency'",
            "Allowed: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440.",
        ),
        ('daily_sync_time="3:60"', "'daily_sync_time'", "'HH:MM'"),
        ('schedule_type="sometimes"', "'schedule_type'", "Allowed: 'auto', 'manual'."),
        ('networking_method="Carrier pigeon"', "'networking_method'", "'SshTunnel'"),
        ("paused=None", "'payload'", "at least one of: config, auth, paused"),
        ("", "'payload'", "at least one of: config, auth, paused"),
        (
            "paused=True, trust_certificates=True, run_setup_tests=False",
            "'trust_certificates'",
            "run_setup_tests=True",
        ),
        ("run_setup_tests=True", "'run_setup_tests'", "together with at least one of"),
        # One literal value wrong next to a templated one: the literal one is still checked now.
        ('sync_frequency=7, paused="{{ params.pause }}"', "'sync_frequency'", "1440"),
    ],
)
def test_a_literal_invalid_value_is_a_dag_import_error(
    airflow_db: Path, tmp_path: Path, arguments: str, field: str, allowed: str
) -> None:
    errors = _import_errors(tmp_path, arguments)
    assert "FivetranValidationError" in errors
    assert f"Invalid Fivetran field {field}" in errors
    assert allowed in errors
    assert "task 'update'" in errors


def test_a_misspelt_field_argument_gets_a_did_you_mean(airflow_db: Path, tmp_path: Path) -> None:
    errors = _import_errors(tmp_path, "sync_freqency=60")
    assert "Invalid Fivetran field 'sync_freqency': unknown field; did you mean 'sync_frequency'?" in errors
    assert "Invalid arguments were passed" not in errors  # Airflow's own error, which names no field
    with pytest.raises(TypeError, match="did you mean 'only_if_changed'"):
        FivetranUpdateConnectionOperator(task_id="t", connection_id="c", paused=True, only_if_change=True)


def test_valid_and_templated_values_import_cleanly(airflow_db: Path, tmp_path: Path) -> None:
    arguments = (
        'sync_frequency="{{ params.freq }}", daily_sync_time="03:00", '
        'schedule_type="{{ params.kind }}", config={"host": "{{ params.host }}", "port": 5432}'
    )
    assert _import_errors(tmp_path, arguments) == ""
    # Cross-field rules wait for the templated values: 03:00 is fine if the frequency renders to 1440.
    assert _import_errors(tmp_path, 'sync_frequency="{{ params.freq }}", daily_sync_time="03:00"') == ""


def test_literal_checks_use_the_catalogue_for_every_field() -> None:
    for name in FIELD_NAMES:
        with pytest.raises(FivetranValidationError) as caught:
            FivetranUpdateConnectionOperator(task_id="t", connection_id="c", **{name: [1, 2]})
        assert caught.value.field == name


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    with FivetranSimulator() as simulator:
        monkeypatch.setenv("AIRFLOW_CONN_FIVETRAN_DEFAULT", simulator.airflow_connection_json())
        yield simulator


def test_a_validation_failure_before_any_request_keeps_the_link_and_logs_no_xcom_error(
    airflow_db: Path, sim: FivetranSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_fivetran_update._compat import DAG
    from tests.airflow_helpers import (
        LINKS_IN_XCOM,
        extra_link_url,
        run_dag,
        task_states,
        unique_dag_id,
        xcom,
    )

    sim.add_connection("conn_link", paused=False)
    with DAG(
        unique_dag_id("link_no_xcom"),
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"freq": 45, "id": "conn_link"},
    ) as dag:
        FivetranUpdateConnectionOperator(
            task_id="bad_value", connection_id="conn_link", sync_frequency="{{ params.freq }}"
        )
        FivetranUpdateConnectionOperator(
            task_id="templated_id", connection_id="{{ params.id }}", sync_frequency="{{ params.freq }}"
        )
        FivetranUpdateConnectionOperator(task_id="good", connection_id="{{ params.id }}", paused=True)

    dag_run = run_dag(dag)

    assert task_states(dag_run) == {
        ("bad_value", -1): "failed",
        ("templated_id", -1): "failed",
        ("good", -1): "success",
    }
    assert sim.request_count(method="PATCH") == 1
    output = capsys.readouterr()
    text = output.out + output.err
    assert "Invalid Fivetran field 'sync_frequency'" in text
    assert "XCom not found" not in text
    assert "Failed to push an xcom for task operator extra link" not in text
    url = "https://fivetran.com/dashboard/connections/conn_link/status"
    for task_id in ("bad_value", "templated_id", "good"):
        # Airflow 2's webserver sees the id unrendered, and the task failed before pushing the URL.
        expected = "" if task_id == "templated_id" and not LINKS_IN_XCOM else url
        assert extra_link_url(dag_run, task_id, FivetranConnectionLink()) == expected
    assert xcom(dag_run, "good", DASHBOARD_URL_XCOM_KEY) == url
