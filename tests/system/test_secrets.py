"""Secrets never leave through error paths, even when the answer echoes the request.

The API here is :class:`tests.system.echo_api.EchoAPI`: a loopback server whose error answers quote
the request they reject (``Authorization`` header and JSON body), as a Fivetran-style JSON error, a
proxy's HTML page, a 200 that is not JSON, or garbage instead of HTTP. Each test first shows the
secrets really were in what the server sent back, then searches every text the provider built from
it: the exception's message, its attributes and traceback, the log records, and, through a real
``dag.test()`` run, the output Airflow wrote to disk, the XCom and task-instance rows, the trigger's
event and the failure callback's ``context["exception"]``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_fivetran_update.client import basic_auth_forms, build_request, scrub
from airflow_provider_fivetran_update.exceptions import FivetranAPIError
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.operators.fivetran import plan_update
from airflow_provider_fivetran_update.redaction import SECRET_MASK
from tests.helpers import REPO_ROOT
from tests.system.echo_api import EchoAPI

API_KEY = "echo-key-7c1e"
API_SECRET = "echo-secret-3b9d"
B64 = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
BASIC = f"Basic {B64}"
# Characters that JSON and HTML escape, so the echoed forms differ from the plain one.
PG_PASSWORD = 'pg&pw<"q>-42'
CONSUMER_KEY = "ck-5e6f7a8b"  # a secret only by Fivetran's schema, not by Airflow's names
URI_PASSWORD = "uri-pw-9c0d"
CONFIG = {
    "password": PG_PASSWORD,
    "consumer_key": CONSUMER_KEY,
    "connection_url": f"postgres://u:{URI_PASSWORD}@db/app",
}
SECRETS = {
    "api key": API_KEY,
    "api secret": API_SECRET,
    "base64 credential": B64,
    "Basic credential": BASIC,
    "config password": PG_PASSWORD,
    "config consumer_key": CONSUMER_KEY,
    "URI password": URI_PASSWORD,
}

MAX_RETRIES = 2
# scenario -> requests the hook sends before giving up
SCENARIOS = {
    "json_400": 1,
    "html_400": 1,
    "json_503": MAX_RETRIES + 1,
    "html_502": MAX_RETRIES + 1,
    "html_200": 1,
    "garbage": MAX_RETRIES + 1,
}


def leaks(text: str) -> list[str]:
    """Which secrets appear in ``text``, plainly or JSON-, HTML- or URL-escaped."""
    found = [name for name, secret in SECRETS.items() if secret in text or scrub(text, [secret]) != text]
    if B64[:12] in text:  # half a credential is still a leak
        found.append("base64 credential prefix")
    return found


def exception_texts(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    parts += [repr(value) for value in vars(error).values()]
    parts += [repr(arg) for arg in error.args]
    return "\n".join(parts)


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[EchoAPI]:
    with EchoAPI() as api:
        connection = {"conn_type": "fivetran", "login": API_KEY, "password": API_SECRET, "host": api.url}
        monkeypatch.setenv("AIRFLOW_CONN_FIVETRAN_DEFAULT", json.dumps(connection))
        yield api


def _hook() -> FivetranHook:
    return FivetranHook(timeout=5.0, max_retries=MAX_RETRIES, retry_min_wait=0.01, retry_max_wait=0.02)


def _update(mode: str, connection_id: str) -> BaseException:
    # Without setup tests the update may be sent again after a 502 or garbage, so every attempt's
    # answer is checked; an update that runs them is sent once (docs/update-operator.md).
    hook = _hook()
    if mode == "sync":
        with pytest.raises(FivetranAPIError) as caught:
            hook.update_connection(connection_id, config=CONFIG, paused=True, run_setup_tests=False)
        return caught.value

    async def main() -> None:
        try:
            await hook.aupdate_connection(connection_id, config=CONFIG, paused=True, run_setup_tests=False)
        finally:
            await hook.aclose()

    with pytest.raises(FivetranAPIError) as caught:
        asyncio.run(main())
    return caught.value


def test_the_echo_answers_carry_every_secret_sent(echo: EchoAPI) -> None:
    """The premise of the tests below: without scrubbing, the errors would hold the secrets."""
    for scenario in ("json_400", "html_400"):
        _update("sync", f"echo_{scenario}")
    echoed = echo.echoed()
    for name in ("base64 credential", "Basic credential", "config consumer_key", "URI password"):
        assert SECRETS[name] in echoed, name
    assert "pg&pw<" in echoed  # escaped twice: a JSON body quoted in a JSON message
    # The HTML page's first 200 characters (what an error quotes of a body) hold the config secrets.
    page = echoed[echoed.index("<html>") :][:200]
    assert CONSUMER_KEY in page and URI_PASSWORD in page and "pg&amp;pw&lt;" in page


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_errors_built_from_an_echoing_answer_hold_no_secret(
    echo: EchoAPI, caplog: pytest.LogCaptureFixture, mode: str, scenario: str
) -> None:
    connection_id = f"echo_{scenario}"
    with caplog.at_level(logging.DEBUG):
        error = _update(mode, connection_id)

    assert echo.count(connection_id) == SCENARIOS[scenario]
    assert error.connection_id == connection_id
    text = exception_texts(error)
    assert leaks(text) == []
    # The provider's own log lines; client libraries' DEBUG traces are theirs (Airflow logs at INFO).
    ours = [record for record in caplog.records if record.name.startswith("airflow_provider_fivetran_update")]
    assert ours
    assert leaks("\n".join(record.getMessage() for record in ours)) == []
    # The error is still useful: it says what came back, with the secrets replaced.
    if scenario.startswith(("json", "html")):
        assert error.status_code == int(scenario.rsplit("_", 1)[1])
        assert "***" in error.message
    if scenario == "json_400":
        assert error.code == "InvalidInput"
        assert "Authorization: ***" in error.message


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_successful_answer_that_echoes_the_request_returns_no_secret(
    echo: EchoAPI, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    hook = _hook()
    if mode == "sync":
        data = hook.update_connection("echo_data_200", config=CONFIG, paused=True)
    else:

        async def main() -> dict[str, Any]:
            try:
                return await hook.aupdate_connection("echo_data_200", config=CONFIG, paused=True)
            finally:
                await hook.aclose()

        data = asyncio.run(main())
    assert echo.count("echo_data_200") == 1
    assert CONSUMER_KEY in echo.echoed() and B64 in echo.echoed()
    warning = data["status"]["warnings"][0]["message"]
    assert warning.startswith("Applied: ") and "Authorization: ***" in warning
    assert leaks(json.dumps(data)) == []


def test_scrub_replaces_every_form_and_longest_first() -> None:
    request = build_request(
        "http://127.0.0.1:1",
        "PATCH",
        "/v1/connections/c",
        json={"config": CONFIG},
        auth=(API_KEY, API_SECRET),
    )
    assert set(SECRETS.values()) <= set(request.secrets)
    assert "secret" not in repr(request) and API_SECRET not in repr(request)
    forms = [
        PG_PASSWORD,
        json.dumps(PG_PASSWORD)[1:-1],
        "pg&amp;pw&lt;&quot;q&gt;-42",
        "pg&amp;pw&lt;\\&quot;q&gt;-42",
        "pg%26pw%3C%22q%3E-42",
        BASIC,
        B64,
    ]
    for form in forms:
        assert scrub(f"before {form} after", request.secrets) == "before *** after"
    assert basic_auth_forms(API_KEY, API_SECRET) == (BASIC, B64)
    assert scrub("abc", ["abc"]) == "abc"  # too short to be told apart from ordinary text


def test_the_base64_credential_is_registered_with_airflows_masker(echo: EchoAPI) -> None:
    try:
        from airflow.sdk._shared.secrets_masker import _secrets_masker
    except ImportError:  # Airflow 2.11 and 3.0 keep it in the core package
        from airflow.utils.log.secrets_masker import _secrets_masker  # type: ignore[no-redef]

    _update("sync", "echo_json_400")
    masker = _secrets_masker()
    for secret in (API_SECRET, B64, BASIC):
        assert secret not in masker.redact(f"header {secret} here"), secret


def test_the_changes_diff_masks_uri_passwords_and_secret_names() -> None:
    payload = {"config": {"dsn": "host=db password=dsn-pw", "url": f"postgres://u:{URI_PASSWORD}@h/x"}}
    connection = {"id": "c", "config": {"dsn": SECRET_MASK, "url": "postgres://u:old-pw-1234@h/x"}}
    to_send, changes = plan_update(payload, connection)
    assert to_send == payload
    assert changes == {
        "config": {
            "from": {"dsn": SECRET_MASK, "url": f"postgres://u:{SECRET_MASK}@h/x"},
            "to": {"dsn": SECRET_MASK, "url": f"postgres://u:{SECRET_MASK}@h/x"},
        }
    }


# -- a real Airflow run ------------------------------------------------------------------------------

DAG_FILE = """
from __future__ import annotations

import json
import traceback

import pendulum
from airflow_provider_fivetran_update._compat import DAG

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor

CALLBACKS = {callbacks!r}
CONFIG = {config!r}


def record(context):
    error = context["exception"]
    entry = {{
        "task_id": context["ti"].task_id,
        "str": str(error),
        "repr": repr(error),
        "traceback": "".join(traceback.format_exception(error)),
        "attributes": {{name: repr(value) for name, value in vars(error).items()}},
    }}
    with open(CALLBACKS, "a") as file:
        file.write(json.dumps(entry) + "\\n")


with DAG(
    {dag_id!r},
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    default_args={{"on_failure_callback": record, "trigger_rule": "all_done"}},
) as dag:
    previous = None
    for scenario in ("json_400", "html_502", "html_200", "garbage"):
        task = FivetranUpdateConnectionOperator(
            task_id=f"update_{{scenario}}",
            connection_id=f"echo_{{scenario}}",
            config=CONFIG,
            paused=True,
            run_setup_tests=False,
            max_retries={max_retries},
            retry_min_wait=0.01,
            retry_max_wait=0.02,
        )
        if previous is not None:
            previous >> task
        previous = task
    previous >> FivetranConnectionStateSensor(
        task_id="wait_deferred",
        connection_id="echo_ok_then_html_502",
        deferrable=True,
        poke_interval=1,
        timeout=60,
        max_retries=0,
    )
"""


def test_a_dag_run_against_an_echoing_api_stores_and_logs_no_secret(
    airflow_db: Path, echo: EchoAPI, tmp_path: Path
) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.airflow_helpers import DAG_TEST_STORES_TRIGGERS, LINKS_IN_XCOM, all_xcoms, unique_dag_id

    dag_id = unique_dag_id("secrets_echo")
    callbacks = tmp_path / "callbacks.jsonl"
    dag_file = tmp_path / "dags" / "secrets_echo.py"
    dag_file.parent.mkdir()
    dag_file.write_text(
        DAG_FILE.format(callbacks=str(callbacks), config=CONFIG, dag_id=dag_id, max_retries=MAX_RETRIES)
    )
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from tests.airflow_helpers import run_dag
        spec = importlib.util.spec_from_file_location("secrets_echo", {str(dag_file)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        run_dag(module.dag)
        """
    )
    # What Airflow prints while running the DAG (task logs, retries, the triggerer) goes to a file.
    log_file = tmp_path / "dag-test.log"
    with log_file.open("w") as output:
        subprocess.run(
            [sys.executable, "-c", script],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            cwd=tmp_path,
            timeout=600,
            check=False,
        )
    log = log_file.read_text()

    expected = {
        "echo_json_400": 1,
        "echo_html_502": MAX_RETRIES + 1,
        "echo_html_200": 1,
        "echo_garbage": MAX_RETRIES + 1,
        "echo_ok_then_html_502": 2,  # the worker's first poke, then the trigger's read
    }
    assert {connection_id: echo.count(connection_id) for connection_id in expected} == expected
    assert "Fivetran API answered 400 InvalidInput for connection 'echo_json_400'" in log
    assert "Could not read Fivetran connection 'echo_ok_then_html_502'" in log
    assert leaks(log) == []

    entries = [json.loads(line) for line in callbacks.read_text().splitlines()]
    assert sorted(entry["task_id"] for entry in entries) == [
        "update_garbage",
        "update_html_200",
        "update_html_502",
        "update_json_400",
        "wait_deferred",
    ]
    assert leaks(json.dumps(entries)) == []
    # The trigger's event message reaches the task (and its callback) scrubbed, not dropped.
    (deferred,) = [entry for entry in entries if entry["task_id"] == "wait_deferred"]
    assert "Could not read Fivetran connection 'echo_ok_then_html_502'" in deferred["str"]
    assert "Fivetran API answered 502" in deferred["str"] and "***" in deferred["str"]

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)).one()
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)).all()
        assert {ti.task_id: str(ti.state) for ti in tis} == {
            **{
                f"update_{scenario}": "failed" for scenario in ("json_400", "html_502", "html_200", "garbage")
            },
            "wait_deferred": "failed",
        }
        stored = [repr(value) for value in all_xcoms(run)]
        # The trigger's kwargs, and its event while the task waits to resume (cleared after).
        stored += [repr(ti.next_kwargs) for ti in tis]
        stored += [repr(trigger.kwargs) for trigger in session.scalars(select(Trigger)).all()]
        assert run.state == "failed"
    if LINKS_IN_XCOM:
        assert any("dashboard/connections/echo_json_400" in item for item in stored)
    if DAG_TEST_STORES_TRIGGERS:
        assert any("echo_ok_then_html_502" in item and "end_time" in item for item in stored)
    assert leaks("\n".join(stored)) == []


def test_uri_passwords_and_common_secret_names_never_reach_xcom_or_the_log(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pendulum

    from airflow_provider_fivetran_update._compat import DAG
    from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
    from airflow_provider_fivetran_update.testing import FivetranSimulator
    from tests.airflow_helpers import run_dag, task_states, unique_dag_id, xcom

    secrets = {"dsn": "dsn-pw-31a7", "uri": "uri-pw-7b2e", "pwd": "pwd-4c9d", "jwt": "jwt-8e1f"}
    config = {
        "host": "db.internal",
        "dsn": f"host=db password={secrets['dsn']}",
        "connection_url": f"postgres://loader:{secrets['uri']}@db.internal:5432/app",
        "db_pwd": secrets["pwd"],
        "jwt": secrets["jwt"],
    }
    with FivetranSimulator() as sim:
        monkeypatch.setenv("AIRFLOW_CONN_FIVETRAN_DEFAULT", sim.airflow_connection_json())
        sim.add_connection("conn_uri", service="postgres", config={"host": "db.internal"})
        with DAG(
            unique_dag_id("secrets_names"), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")
        ) as dag:
            FivetranUpdateConnectionOperator(
                task_id="rotate", connection_id="conn_uri", config=config, only_if_changed=True
            )
        dag_run = run_dag(dag)
        assert task_states(dag_run) == {("rotate", -1): "success"}
        assert sim.request_count(method="PATCH", path="/v1/connections/conn_uri") == 1
        assert sim.raw_connection("conn_uri")["config"]["db_pwd"] == secrets["pwd"]  # Fivetran got it

    returned = xcom(dag_run, "rotate")
    assert returned["config"]["host"] == "db.internal"
    assert returned["config"]["connection_url"] == f"postgres://loader:{SECRET_MASK}@db.internal:5432/app"
    assert returned["changes"]["config"]["to"] == {
        "dsn": SECRET_MASK,
        "connection_url": f"postgres://loader:{SECRET_MASK}@db.internal:5432/app",
        "db_pwd": SECRET_MASK,
        "jwt": SECRET_MASK,
    }
    output = capsys.readouterr()
    text = json.dumps(returned) + output.out + output.err
    assert "Fivetran connection conn_uri: 1 field(s) differ" in text
    assert [name for name, secret in secrets.items() if secret in text] == []
