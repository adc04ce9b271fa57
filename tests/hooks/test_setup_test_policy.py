"""What the provider sends about setup tests, and how a slow PATCH that runs them is handled.

Fivetran runs setup tests inside ``PATCH /v1/connections/{id}`` unless ``run_setup_tests`` is
false; they can take minutes and count against a setup-test rate limit. The hook (the one path
the operator and the maintenance window also take) turns them off for updates they do not check,
and never sends an update that runs them a second time after an answer that did not arrive.
The simulator's ``setup_tests_seconds`` makes a PATCH that runs setup tests answer slowly (it
applies the update first, as Fivetran does); the hook's request timeout is shorter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_fivetran_update.client import RetryableAPIError
from airflow_provider_fivetran_update.exceptions import FivetranAPIError
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.hooks.test_hook import ENV, make_hook, run_async, settle

CONN = "conn_slow"
CONN_PATH = f"/v1/connections/{CONN}"
SETUP_TESTS_SECONDS = 1.5
SHORT_TIMEOUT = 0.5


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    """A simulator whose setup tests take longer than the hooks' request timeout."""
    with FivetranSimulator(setup_tests_seconds=SETUP_TESTS_SECONDS) as simulator:
        simulator.add_connection(
            CONN, service="postgres", paused=False, sync_frequency=360, config={"host": "db"}
        )
        monkeypatch.setenv(ENV, simulator.airflow_connection_json())
        yield simulator


def _bodies(sim: FivetranSimulator) -> list[Any]:
    return [r.json for r in sim.requests if r.method == "PATCH" and r.path == CONN_PATH]


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        ({"paused": True}, {"paused": True, "run_setup_tests": False}),
        ({"paused": "false"}, {"paused": False, "run_setup_tests": False}),
        ({"sync_frequency": 60}, {"sync_frequency": 60, "run_setup_tests": False}),
        ({"schedule_type": "manual"}, {"schedule_type": "manual", "run_setup_tests": False}),
    ],
)
def test_a_pause_resume_or_schedule_change_is_sent_without_setup_tests(
    sim: FivetranSimulator, fields: dict[str, Any], sent: dict[str, Any]
) -> None:
    # The short timeout would fail the call if the simulator had run setup tests.
    make_hook(timeout=SHORT_TIMEOUT, max_retries=0).update_connection(CONN, **fields)
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1
    assert _bodies(sim) == [sent]
    assert sim.setup_test_count(CONN) == 0


def test_a_config_change_keeps_fivetrans_default(sim: FivetranSimulator) -> None:
    updated = make_hook(timeout=10).update_connection(CONN, config={"host": "db2"}, paused=True)
    assert updated["paused"] is True
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1
    assert _bodies(sim) == [{"config": {"host": "db2"}, "paused": True}]
    assert sim.setup_test_count(CONN) == 1


def test_a_networking_change_keeps_fivetrans_default(sim: FivetranSimulator) -> None:
    make_hook(timeout=10).update_connection(CONN, networking_method="SshTunnel", proxy_agent_id="agent_2")
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1
    assert _bodies(sim) == [{"networking_method": "SshTunnel", "proxy_agent_id": "agent_2"}]


@pytest.mark.parametrize("value", [True, False])
def test_the_callers_choice_is_sent(sim: FivetranSimulator, value: bool) -> None:
    make_hook(timeout=10).update_connection(CONN, paused=True, run_setup_tests=value)
    make_hook(timeout=10).update_connection(CONN, config={"host": "db3"}, run_setup_tests=value)
    assert settle(sim, "PATCH", CONN_PATH, 2) == 2
    assert _bodies(sim) == [
        {"paused": True, "run_setup_tests": value},
        {"config": {"host": "db3"}, "run_setup_tests": value},
    ]


def test_the_policy_is_logged(sim: FivetranSimulator, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="airflow_provider_fivetran_update.hooks.fivetran"):
        make_hook().update_connection(CONN, paused=True)
    assert f"Fivetran connection {CONN}: sent with run_setup_tests=false" in caplog.text
    assert "pass run_setup_tests=True to run them anyway" in caplog.text


def test_the_policy_is_explained_at_info_once_per_hook(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    hook = make_hook()
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_fivetran_update.hooks.fivetran"):
        for paused in (True, False, True):
            hook.update_connection(CONN, paused=paused)
    notes = [record for record in caplog.records if "sent with run_setup_tests=false" in record.getMessage()]
    assert [record.levelno for record in notes] == [logging.INFO, logging.DEBUG, logging.DEBUG]
    assert sim.request_count(method="PATCH") == 3


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"config": {"host": "db2"}}, id="config-default"),
        pytest.param({"paused": True, "run_setup_tests": True}, id="asked-for"),
        pytest.param({"proxy_agent_id": "agent_2"}, id="networking"),
        pytest.param({"paused": True, "trust_certificates": True}, id="trust-flag"),
    ],
)
def test_a_slow_patch_that_runs_setup_tests_is_sent_once(
    sim: FivetranSimulator, fields: dict[str, Any]
) -> None:
    hook = make_hook(timeout=SHORT_TIMEOUT, max_retries=3)
    with pytest.raises(FivetranAPIError) as caught:
        hook.update_connection(CONN, **fields)
    # One PATCH, not four: each attempt would run the setup tests again.
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1
    assert sim.setup_test_count(CONN) == 1
    assert not isinstance(caught.value, RetryableAPIError)
    message = str(caught.value)
    assert CONN in message
    assert "not sent again" in message
    assert "run the setup tests again" in message
    assert "raise request_timeout" in message
    # Fivetran applied it before the tests made the answer late; the message says it may have.
    assert "may have carried out the update" in message


def test_async_slow_patch_that_runs_setup_tests_is_sent_once(sim: FivetranSimulator) -> None:
    hook = make_hook(timeout=SHORT_TIMEOUT, max_retries=3)
    with pytest.raises(FivetranAPIError) as caught:
        run_async(hook, lambda: hook.aupdate_connection(CONN, config={"host": "db2"}))
    assert "not sent again" in str(caught.value)
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1


def test_a_slow_patch_without_setup_tests_is_still_retried(sim: FivetranSimulator) -> None:
    sim.fail_next(1, method="PATCH", delay=SETUP_TESTS_SECONDS)
    updated = make_hook(timeout=SHORT_TIMEOUT, max_retries=3).update_connection(CONN, paused=True)
    assert updated["paused"] is True
    assert settle(sim, "PATCH", CONN_PATH, 2) == 2
    assert _bodies(sim) == [{"paused": True, "run_setup_tests": False}] * 2


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 429, "headers": {"Retry-After": "0"}}, id="429"),
        pytest.param({"status": 503}, id="503"),
    ],
)
def test_a_patch_that_runs_setup_tests_is_retried_when_fivetran_turned_it_away(
    sim: FivetranSimulator, fault: dict[str, Any]
) -> None:
    sim.fail_next(1, method="PATCH", **fault)
    updated = make_hook(timeout=10).update_connection(CONN, config={"host": "db4"})
    assert updated["config"]["host"] == "db4"
    assert settle(sim, "PATCH", CONN_PATH, 2) == 2


def test_daily_sync_time_for_a_connection_that_is_not_daily_is_sent_with_a_warning(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    # The hook cannot know the stored frequency before sending; the documents do not refuse it.
    with caplog.at_level(logging.WARNING, logger="airflow_provider_fivetran_update.hooks.fivetran"):
        make_hook().update_connection(CONN, daily_sync_time="03:00")
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1
    assert _bodies(sim) == [{"daily_sync_time": "03:00", "run_setup_tests": False}]
    assert f"Fivetran connection {CONN} syncs every 360 minutes" in caplog.text


def test_ignored_values_are_sent_with_a_warning(
    sim: FivetranSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_fivetran_update.hooks.fivetran"):
        make_hook().update_connection(CONN, data_delay_threshold=0, data_delay_sensitivity="LOW")
    assert settle(sim, "PATCH", CONN_PATH, 1) == 1
    assert _bodies(sim) == [
        {"data_delay_threshold": 0, "data_delay_sensitivity": "LOW", "run_setup_tests": False}
    ]
    assert "data_delay_threshold is sent with data_delay_sensitivity='LOW'" in caplog.text
