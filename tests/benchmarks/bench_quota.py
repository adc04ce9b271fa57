"""Benchmark 4, API quota: requests each scenario sends, against the fewest it could send.

Fivetran counts API requests against an account quota, so a provider that polls once too often
or reads before every write costs its users quota. Each scenario is a function that prepares the
simulator and returns a :class:`Scenario` (a DAG file, the connection ids it touches, the theoretical
minimum and why). All runnable scenarios run with ``dag.test()`` in one child process; the requests
of a scenario are the simulator's records for its connection ids. A scenario whose feature has not
landed yet raises :class:`~benchlib.BenchmarkSkipped` with the reason.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib import BenchmarkSkipped, airflow_home_with_dags, run_dags


@dataclass(frozen=True)
class QuotaParams:
    """Sizes: N connections in the maintenance window; a resync of T seconds polled every p."""

    window_connections: int = 10
    resync_seconds: float = 5.0
    poll_seconds: float = 2.0


@dataclass
class Scenario:
    name: str
    dag_id: str
    dag_source: str
    connection_ids: list[str]
    minimum: int
    minimum_why: str
    check: Callable[[Any], str | None] = field(default=lambda sim: None)
    note: str = ""


_HEADER = """\
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator
from airflow_provider_fivetran_update.sensors.fivetran import FivetranConnectionStateSensor

START = pendulum.datetime(2026, 1, 1)

"""


def _dag(dag_id: str, body: str, header: str = _HEADER) -> str:
    return (
        header
        + f'with DAG(dag_id="{dag_id}", schedule=None, start_date=START, catchup=False):\n'
        + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
    )


def _operator_parameters() -> set[str]:
    from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator

    return set(inspect.signature(FivetranUpdateConnectionOperator.__init__).parameters)


def _expect(sim: Any, connection_id: str, **expected: Any) -> str | None:
    data = sim.connection(connection_id)
    for key, value in expected.items():
        current = data.get(key, (data.get("status") or {}).get(key))
        if current != value:
            return f"{connection_id}: {key}={current!r}, expected {value!r}"
    return None


def one_update(sim: Any, params: QuotaParams) -> Scenario:
    cid = "quota_update"
    sim.add_connection(cid, paused=False)
    return Scenario(
        name="One update",
        dag_id="bench_quota_one_update",
        dag_source=_dag(
            "bench_quota_one_update",
            f'FivetranUpdateConnectionOperator(task_id="update", connection_id="{cid}", paused=True)',
        ),
        connection_ids=[cid],
        minimum=1,
        minimum_why="one PATCH; its answer already is the connection after the change",
        check=lambda s: _expect(s, cid, paused=True),
    )


def noop_change_only(sim: Any, params: QuotaParams) -> Scenario:
    if "only_if_changed" not in _operator_parameters():
        raise BenchmarkSkipped("FivetranUpdateConnectionOperator has no only_if_changed yet")
    cid = "quota_noop"
    sim.add_connection(cid, paused=True, sync_frequency=60)
    return Scenario(
        name="No-op change-only update",
        dag_id="bench_quota_noop",
        dag_source=_dag(
            "bench_quota_noop",
            f"""
            FivetranUpdateConnectionOperator(
                task_id="update", connection_id="{cid}", paused=True, sync_frequency=60, only_if_changed=True
            )
            """,
        ),
        connection_ids=[cid],
        minimum=1,
        minimum_why="one GET shows nothing differs; no PATCH",
        check=lambda s: (
            None
            if s.request_count(method="PATCH", path=f"/v1/connections/{cid}") == 0
            else f"{cid}: a PATCH was sent for a change-only update that changes nothing"
        ),
    )


def sensor_satisfied(sim: Any, params: QuotaParams) -> Scenario:
    cid = "quota_sensor"
    sim.add_connection(cid, paused=False)
    return Scenario(
        name="Sensor already satisfied (deferrable)",
        dag_id="bench_quota_sensor",
        dag_source=_dag(
            "bench_quota_sensor",
            f"""
            FivetranConnectionStateSensor(
                task_id="wait", connection_id="{cid}", expected_setup_state="connected",
                expected_sync_state="scheduled", deferrable=True, poke_interval={params.poll_seconds},
                timeout=60,
            )
            """,
        ),
        connection_ids=[cid],
        minimum=1,
        minimum_why="one GET (the first poke); no deferral",
    )


def maintenance_window(sim: Any, params: QuotaParams) -> Scenario:
    try:
        from airflow_provider_fivetran_update import maintenance
    except ImportError:
        raise BenchmarkSkipped("airflow_provider_fivetran_update.maintenance has not landed yet") from None
    window = getattr(maintenance, "fivetran_maintenance_window", None)
    if window is None:
        raise BenchmarkSkipped("maintenance.fivetran_maintenance_window is missing")
    accepted = set(inspect.signature(window).parameters)
    if "connection_ids" not in accepted:
        raise BenchmarkSkipped(f"fivetran_maintenance_window takes {sorted(accepted)}; no connection_ids")
    n = params.window_connections
    ids = [f"quota_window_{i:03d}" for i in range(n)]
    for cid in ids:
        sim.add_connection(cid, paused=False)
    header = _HEADER + (
        "from airflow.providers.standard.operators.empty import EmptyOperator\n"
        "from airflow_provider_fivetran_update.maintenance import fivetran_maintenance_window\n\n"
    )
    source = _dag(
        "bench_quota_window",
        f"""
        with fivetran_maintenance_window(connection_ids={ids!r}, poll_interval={params.poll_seconds}):
            EmptyOperator(task_id="work")
        """,
        header,
    )

    def check(s: Any) -> str | None:
        for cid in ids:
            problem = _expect(s, cid, paused=False)
            if problem:
                return problem
        return None

    return Scenario(
        name=f"Maintenance window over N={n} connections",
        dag_id="bench_quota_window",
        dag_source=source,
        connection_ids=ids,
        minimum=3 * n,
        minimum_why="per connection a GET to record how it was (the window restores exactly that), "
        "a PATCH to pause and one to resume; each PATCH answer shows the new state",
        check=check,
    )


def _resync_minimum(params: QuotaParams) -> int:
    return 1 + math.ceil(params.resync_seconds / params.poll_seconds)


def resync_wait_operator(sim: Any, params: QuotaParams) -> Scenario:
    if "wait_for_completion" not in _operator_parameters():
        raise BenchmarkSkipped("FivetranUpdateConnectionOperator has no wait_for_completion yet")
    cid = "quota_resync_op"
    sim.add_connection(cid, paused=False)
    accepted = _operator_parameters()
    poll_arg = next((a for a in ("poll_interval", "poke_interval", "check_interval") if a in accepted), None)
    if poll_arg is None:
        raise BenchmarkSkipped(f"no poll-interval argument among {sorted(accepted)}")
    return Scenario(
        name=f"Resync wait, T={params.resync_seconds:g} s, p={params.poll_seconds:g} s (operator)",
        dag_id="bench_quota_resync_op",
        dag_source=_dag(
            "bench_quota_resync_op",
            f"""
            FivetranUpdateConnectionOperator(
                task_id="resync", connection_id="{cid}", is_historical_sync=True,
                wait_for_completion=True, {poll_arg}={params.poll_seconds},
            )
            """,
        ),
        connection_ids=[cid],
        minimum=_resync_minimum(params),
        minimum_why="one PATCH (its answer shows the sync started), then a GET every p until done: ceil(T/p)",
        check=lambda s: _expect(s, cid, is_historical_sync=False, sync_state="scheduled"),
    )


def resync_wait_sensor(sim: Any, params: QuotaParams) -> Scenario:
    cid = "quota_resync_sensor"
    sim.add_connection(cid, paused=False)
    return Scenario(
        name=f"Resync wait, T={params.resync_seconds:g} s, p={params.poll_seconds:g} s "
        "(operator + deferrable sensor)",
        dag_id="bench_quota_resync_sensor",
        dag_source=_dag(
            "bench_quota_resync_sensor",
            f"""
            resync = FivetranUpdateConnectionOperator(
                task_id="resync", connection_id="{cid}", is_historical_sync=True
            )
            wait = FivetranConnectionStateSensor(
                task_id="wait", connection_id="{cid}", expected_setup_state="connected",
                expected_sync_state="scheduled", deferrable=True, poke_interval={params.poll_seconds},
                timeout=600,
            )
            resync >> wait
            """,
        ),
        connection_ids=[cid],
        minimum=_resync_minimum(params) + 1,
        minimum_why="one PATCH; the sensor, a task of its own, cannot see its answer, so one poke, "
        "then a GET every p until done: ceil(T/p)",
        check=lambda s: _expect(s, cid, is_historical_sync=False, sync_state="scheduled"),
        note="the DAG of example_fivetran_historical_resync",
    )


SCENARIOS: tuple[Callable[[Any, QuotaParams], Scenario], ...] = (
    one_update,
    noop_change_only,
    sensor_satisfied,
    maintenance_window,
    resync_wait_operator,
    resync_wait_sensor,
)


def run_quota(python: str, sim: Any, db: str, params: QuotaParams) -> list[dict[str, Any]]:
    """Run every scenario whose feature exists; one row per scenario (skipped ones with the reason).

    ``sim`` must have been made with ``historical_sync_seconds=params.resync_seconds``.
    """
    rows: list[dict[str, Any]] = []
    ready: list[Scenario] = []
    order: dict[str, int] = {}
    for index, make in enumerate(SCENARIOS):
        try:
            scenario = make(sim, params)
        except BenchmarkSkipped as skipped:
            rows.append({"scenario": make.__name__, "skipped": str(skipped), "order": index})
            continue
        ready.append(scenario)
        order[scenario.dag_id] = index
    if ready:
        home, dags = airflow_home_with_dags(db, {s.dag_id: s.dag_source for s in ready})
        runs = run_dags(
            python,
            [s.dag_id for s in ready],
            home=home,
            dags_folder=dags,
            conn_json=sim.airflow_connection_json(),
        )
        for scenario in ready:
            used = [
                r
                for r in sim.requests
                if any(
                    r.path == f"/v1/connections/{cid}" or r.path.startswith(f"/v1/connections/{cid}/")
                    for cid in scenario.connection_ids
                )
            ]
            run = runs[scenario.dag_id]
            rows.append(
                {
                    "scenario": scenario.name,
                    "function": scenario.dag_id,
                    "requests": len(used),
                    "by_method": {
                        m: sum(1 for r in used if r.method == m) for m in sorted({r.method for r in used})
                    },
                    "minimum": scenario.minimum,
                    "minimum_why": scenario.minimum_why,
                    "run_state": run["state"],
                    "task_states": run["task_states"],
                    "problem": scenario.check(sim)
                    if run["state"] == "success"
                    else f"DAG run {run['state']}: {run['not_success_samples']}",
                    "note": scenario.note,
                    "order": order[scenario.dag_id],
                }
            )
    return sorted(rows, key=lambda row: row["order"])
