"""FivetranHook's sync-side methods against the simulator over loopback: re-sync, setup tests, lookups.

Every test counts the requests the simulator received; nothing of ours is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_fivetran_update.client import RetryableAPIError
from airflow_provider_fivetran_update.exceptions import (
    FivetranAPIError,
    FivetranError,
    FivetranValidationError,
)
from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook
from airflow_provider_fivetran_update.redaction import SECRET_MASK
from airflow_provider_fivetran_update.testing import FivetranSimulator
from tests.hooks.test_hook import settle

PASSWORD = "pw-in-sim-7c"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[FivetranSimulator]:
    with FivetranSimulator() as simulator:
        simulator.add_connection("conn_a", config={"host": "db", "password": PASSWORD})
        for name, value in simulator.airflow_env().items():
            monkeypatch.setenv(name, value)
        yield simulator


def hook(**kwargs: Any) -> FivetranHook:
    return FivetranHook(**{"max_retries": 3, "retry_min_wait": 0.01, "retry_max_wait": 0.05, **kwargs})


def test_resync_whole_connection_and_table_scope(sim: FivetranSimulator) -> None:
    hook().resync_connection("conn_a")
    assert sim.connection("conn_a")["status"]["is_historical_sync"] is True
    sim.add_connection("conn_b")
    hook().resync_connection("conn_b", scope='{"public": ["orders", "orders", "users"]}')
    bodies = [r.json for r in sim.requests if r.method == "POST"]
    assert bodies == [{}, {"scope": {"public": ["orders", "users"]}}]
    assert sim.raw_connection("conn_b")["last_resync_scope"] == {"public": ["orders", "users"]}


@pytest.mark.parametrize("scope", [{}, {"public": []}, {"public": "orders"}, "not json"])
def test_invalid_scope_sends_nothing(sim: FivetranSimulator, scope: Any) -> None:
    with pytest.raises(FivetranValidationError) as caught:
        hook().resync_connection("conn_a", scope=scope)
    assert caught.value.field == "scope"
    assert '{"schema_name": ["table_name", ...]}' in str(caught.value)
    assert sim.request_count() == 0


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"drop": True}, id="connection-dropped"),
        pytest.param({"status": 502}, id="502"),
    ],
)
def test_resync_is_not_sent_twice_when_it_may_have_been_applied(
    sim: FivetranSimulator, fault: dict[str, Any]
) -> None:
    sim.fail_next(1, method="POST", **fault)
    with pytest.raises(FivetranAPIError) as caught:
        hook().resync_connection("conn_a")
    assert not isinstance(caught.value, RetryableAPIError)
    assert "not sent again" in str(caught.value)
    assert settle(sim, "POST", "/v1/connections/conn_a/resync", 1) == 1


def test_resync_turned_away_with_429_is_sent_again(sim: FivetranSimulator) -> None:
    sim.fail_next(1, method="POST", status=429, headers={"Retry-After": "0"})
    hook().resync_connection("conn_a")
    assert settle(sim, "POST", "/v1/connections/conn_a/resync", 2) == 2


def test_forced_sync_is_not_sent_twice_but_a_plain_one_is_retried(sim: FivetranSimulator) -> None:
    path = "/v1/connections/conn_a/sync"
    sim.fail_next(1, method="POST", status=502)
    with pytest.raises(FivetranAPIError, match="second forced sync restarts it"):
        hook().sync_connection("conn_a", force=True)
    assert settle(sim, "POST", path, 1) == 1
    sim.fail_next(1, method="POST", status=502)
    hook().sync_connection("conn_a")
    assert settle(sim, "POST", path, 3) == 3


def test_run_setup_tests(sim: FivetranSimulator) -> None:
    sim.add_connection("bad", setup_state="broken", broken=True)
    data = hook().run_setup_tests("conn_a")
    assert data["status"]["setup_state"] == "connected"
    assert data["config"]["password"] == SECRET_MASK
    assert hook().run_setup_tests("bad")["status"]["setup_state"] == "broken"
    sim.set_behaviour("bad", broken=False)
    assert hook().run_setup_tests("bad", trust_certificates=True)["status"]["setup_state"] == "connected"
    assert [r.json for r in sim.requests if r.method == "POST"] == [
        {"trust_certificates": False, "trust_fingerprints": False},
        {"trust_certificates": False, "trust_fingerprints": False},
        {"trust_certificates": True, "trust_fingerprints": False},
    ]


def test_list_group_connections_follows_every_page(sim: FivetranSimulator) -> None:
    for number in range(1003):
        sim.add_connection(f"g1_{number:04}", group_id="g1")
    sim.add_connection("other", group_id="g2")
    items = hook().list_group_connections("g1")
    assert len(items) == 1003 and {item["group_id"] for item in items} == {"g1"}
    assert sim.request_count(method="GET", path="/v1/groups/g1/connections") == 2
    assert [r.query.get("limit") for r in sim.requests] == ["1000", "1000"]


def test_find_connection_by_name_in_a_group_or_in_every_group(sim: FivetranSimulator) -> None:
    sim.add_connection("sales_eu", group_id="eu", schema="sales")
    sim.add_connection("sales_us", group_id="us", schema="sales")
    sim.add_connection("billing", group_id="us", schema="billing")
    for number in range(5):
        sim.add_connection(f"noise_{number}", group_id="eu")

    assert hook().find_connection_by_name("sales", group_id="us")["id"] == "sales_us"
    assert hook().find_connection_by_name("billing")["id"] == "billing"
    # One request per lookup, filtered by name.
    assert [(r.path, r.query.get("schema")) for r in sim.requests] == [
        ("/v1/groups/us/connections", "sales"),
        ("/v1/connections", "billing"),
    ]
    with pytest.raises(FivetranError) as caught:
        hook().find_connection_by_name("sales")
    assert "'sales_eu' in group 'eu'" in str(caught.value) and "'sales_us' in group 'us'" in str(caught.value)
    with pytest.raises(FivetranError, match="No Fivetran connection named 'sales' in group 'g9'"):
        sim.add_connection("elsewhere", group_id="g9")
        hook().find_connection_by_name("sales", group_id="g9")
    with pytest.raises(FivetranAPIError, match="404"):
        hook().find_connection_by_name("sales", group_id="missing")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.find_connection_by_name(""), "connection_name"),
        (lambda h: h.find_connection_by_name("sales", group_id=" g1"), "group_id"),
        (lambda h: h.list_group_connections(""), "group_id"),
    ],
)
def test_bad_lookup_arguments_send_nothing(sim: FivetranSimulator, call: Any, field: str) -> None:
    with pytest.raises(FivetranValidationError) as caught:
        call(hook())
    assert caught.value.field == field
    assert sim.request_count() == 0
