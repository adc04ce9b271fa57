"""A connection id can never take a request out of ``/v1/connections/{id}``.

One check (:func:`airflow_provider_fivetran_update.ids.check_connection_id`) refuses what URL
handling would turn into another endpoint; everything else is percent-encoded into one path
segment. The hook (sync and async), the operator and the sensor (literal ids when the DAG is
parsed, templated ones after rendering) and the maintenance window all use it, and none of them
sends a request for a refused id: the simulator's request log stays empty.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_fivetran_update.exceptions import FivetranValidationError
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.ids import check_connection_id, quote_connection_id
from airflow_provider_fivetran_update.maintenance import parse_connection_ids
from airflow_provider_fivetran_update.operators.fivetran import (
    FivetranConnectionLink,
    FivetranUpdateConnectionOperator,
)
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor
from airflow_provider_fivetran_update.testing import FivetranSimulator

BAD_IDS = {
    "dot": ".",
    "dotdot": "..",
    "slash": "a/b",
    "backslash": "a\\b",
    "leading_blank": " a",
    "newline": "a\n",
    "tab": "a\tb",
    "nul": "a\x00b",
    "line_separator": "a\u2028b",
    "empty": "",
    "encoded_dotdot": "%2e%2e",
    "encoded_slash": "a%2Fb",
    "encoded_newline": "a%0a",
}
# Odd but harmless: each stays one path segment once percent-encoded.
ODD_IDS = {
    "a?b": "a%3Fb",
    "a#b": "a%23b",
    "a%b": "a%25b",
    "a;b=c": "a%3Bb%3Dc",
    "...": "...",
    ".a": ".a",
    "zürich_pg": "z%C3%BCrich_pg",
}


def _hook() -> FivetranHook:
    return FivetranHook(max_retries=0)


@pytest.mark.parametrize("bad_id", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_the_check_refuses_ids_that_leave_the_path(bad_id: str) -> None:
    with pytest.raises(FivetranValidationError) as caught:
        check_connection_id(bad_id)
    assert caught.value.field == "connection_id"
    assert "not '.' or '..', without '/'" in str(caught.value)  # the allowed form
    with pytest.raises(FivetranValidationError, match="'connection_ids'"):
        check_connection_id(bad_id, "connection_ids")


@pytest.mark.parametrize("bad_id", [*BAD_IDS.values(), None, 42], ids=[*BAD_IDS, "none", "int"])
def test_the_hook_sends_nothing_for_a_bad_id(sim: FivetranSimulator, bad_id: Any) -> None:
    hook = _hook()
    for call in (
        lambda: hook.get_connection_details(bad_id),
        lambda: hook.update_connection(bad_id, paused=True),
        lambda: hook.sync_connection(bad_id),
    ):
        with pytest.raises(FivetranValidationError) as caught:
            call()
        assert caught.value.field == "connection_id"

    async def main() -> None:
        try:
            with pytest.raises(FivetranValidationError, match="'connection_id'"):
                await hook.aget_connection_details(bad_id)
            with pytest.raises(FivetranValidationError, match="'connection_id'"):
                await hook.aupdate_connection(bad_id, paused=True)
        finally:
            await hook.aclose()

    asyncio.run(main())
    assert sim.request_count() == 0


@pytest.mark.parametrize(("odd_id", "encoded"), list(ODD_IDS.items()))
def test_odd_ids_are_percent_encoded_into_one_segment(
    sim: FivetranSimulator, odd_id: str, encoded: str
) -> None:
    assert quote_connection_id(odd_id) == encoded
    sim.add_connection(odd_id, paused=False)
    hook = _hook()
    sent: list[str] = []
    hook.get_conn().hooks["response"].append(lambda response, *a, **k: sent.append(response.request.path_url))

    assert hook.get_connection_details(odd_id)["id"] == odd_id
    assert hook.update_connection(odd_id, paused=True)["paused"] is True

    assert sent == [f"/v1/connections/{encoded}"] * 2
    # The simulator (an ASGI app) sees the decoded path: the id, whole, under /v1/connections/.
    assert sim.request_count(path=f"/v1/connections/{odd_id}") == 2
    assert sim.request_count() == 2


@pytest.mark.parametrize("bad_id", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_literal_bad_ids_fail_when_the_task_is_declared(bad_id: str) -> None:
    with pytest.raises(FivetranValidationError, match="'connection_id'"):
        FivetranUpdateConnectionOperator(task_id="update", connection_id=bad_id, paused=True)
    with pytest.raises(FivetranValidationError, match="'connection_id'"):
        FivetranConnectionStateSensor(task_id="wait", connection_id=bad_id)


def test_the_window_refuses_bad_ids_in_every_form() -> None:
    # The window strips blanks around ids (it accepts "a, b"); inside an id they are refused.
    for value in ('["a", ".."]', "a, ..", "a,b/c", ["a", "%2e%2e"], ["a b"], ["."], "a\tb"):
        with pytest.raises(FivetranValidationError) as caught:
            parse_connection_ids(value)
        assert caught.value.field == "connection_ids"
    assert parse_connection_ids("a?b, c") == ["a?b", "c"]


def test_templated_bad_ids_fail_after_rendering_without_a_request(
    airflow_db: Path, sim: FivetranSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_fivetran_update._compat import DAG
    from tests.airflow_helpers import extra_link_url, run_dag, task_states, unique_dag_id

    rendered = {name: value for name, value in BAD_IDS.items() if name in ("dot", "dotdot", "slash", "empty")}
    rendered["leading_blank"] = " a"
    rendered["newline"] = "a\n"
    with DAG(
        unique_dag_id("ids_templated"),
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params=rendered,
    ) as dag:
        for name in rendered:
            FivetranUpdateConnectionOperator(
                task_id=f"update_{name}", connection_id=f"{{{{ params.{name} }}}}", paused=True
            )
            FivetranConnectionStateSensor(
                task_id=f"wait_{name}", connection_id=f"{{{{ params.{name} }}}}", timeout=5, poke_interval=1
            )

    dag_run = run_dag(dag)

    states = task_states(dag_run)
    assert set(states.values()) == {"failed"}
    assert len(states) == 2 * len(rendered)
    assert sim.request_count() == 0
    log = capsys.readouterr()
    text = log.out + log.err
    assert text.count("FivetranValidationError: Invalid Fivetran field 'connection_id'") >= 2 * len(rendered)
    # The link has no target for an id that cannot be a connection, and looking for one logs nothing.
    assert "XCom not found" not in text
    for name in rendered:
        assert extra_link_url(dag_run, f"update_{name}", FivetranConnectionLink()) == ""
        assert extra_link_url(dag_run, f"wait_{name}", FivetranConnectionLink()) == ""
