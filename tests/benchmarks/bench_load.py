"""Benchmark 5, load under the rate limit: N mapped update tasks in one DAG run.

The simulator (in the driver process) answers 429 with ``Retry-After`` once more than R requests
arrive in W seconds. One DAG run maps an update over N connections; it runs with ``dag.test()`` in
a child process of the side's venv (a fresh AIRFLOW_HOME with a migrated SQLite DB). Afterwards
every task must have succeeded and every connection must be in the requested state.

The astronomer provider has no operator that updates a connection. Its closest equivalent is a
``@task`` calling its hook's one public PATCH, ``FivetranHook.set_schedule_type``, so both sides
request the same change: ``schedule_type="manual"``. Its hook retries only connection errors and
5xx answers, not 429; the task's own Airflow ``retries`` (0 by default) are the only other retry.

Ours runs twice, with quota-aware pacing (the default) and without it (``[fivetran]
rate_limit_pacing = False``, the behaviour before pacing). With pacing the window length is given
to the hook (``[fivetran] rate_limit_window``): the simulator's window is seconds, Fivetran's an
hour. ``dag.test()`` runs the mapped tasks one after another in one process, so they share one
pacer, as the tasks of one worker process would.
"""

from __future__ import annotations

import time
from typing import Any

from benchlib import ASTRO, OURS, airflow_home_with_dags, run_dags

DAG_ID = "bench_load_mapped_updates"

_OURS_DAG = """\
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_fivetran_update.operators.fivetran import FivetranUpdateConnectionOperator

with DAG(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    FivetranUpdateConnectionOperator.partial(task_id="update", schedule_type="manual").expand(
        connection_id={ids!r}
    )
"""

_ASTRO_DAG = """\
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

with DAG(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):

    @task
    def update(connection_id: str) -> str:
        from fivetran_provider_async.hooks import FivetranHook

        # No base-URL setting in this hook: point its class attributes at the simulator.
        FivetranHook.api_protocol = {scheme!r}
        FivetranHook.api_host = {host!r}
        return FivetranHook().set_schedule_type(connection_id, "manual")["data"]["schedule_type"]

    update.expand(connection_id={ids!r})
"""


def run_load(
    side: str,
    python: str,
    sim: Any,
    db: str,
    *,
    n: int,
    rate: int,
    per_seconds: float,
    prefix: str,
    pacing: bool | None = None,
) -> dict[str, Any]:
    """One DAG run of ``n`` mapped updates by ``side`` against ``sim`` limited to ``rate``/``per_seconds``.

    ``pacing`` (ours only) turns quota-aware pacing on or off; ``None`` leaves the side's defaults.
    """
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    for cid in ids:
        sim.add_connection(cid, schedule_type="auto")
    scheme, _, host = sim.url.partition("://")
    template = _OURS_DAG if side == OURS else _ASTRO_DAG
    source = template.format(dag_id=DAG_ID, ids=ids, scheme=scheme, host=host)
    home, dags = airflow_home_with_dags(db, {DAG_ID: source})
    extra_env: dict[str, str] = {}
    if pacing is True:
        extra_env["AIRFLOW__FIVETRAN__RATE_LIMIT_WINDOW"] = str(per_seconds)
    elif pacing is False:
        extra_env["AIRFLOW__FIVETRAN__RATE_LIMIT_PACING"] = "False"
    sim.rate_limit(rate, per_seconds=per_seconds)
    before = len(sim.requests)
    started = time.monotonic()
    try:
        run = run_dags(
            python,
            [DAG_ID],
            home=home,
            dags_folder=dags,
            conn_json=sim.airflow_connection_json(),
            extra_env=extra_env,
        )[DAG_ID]
    finally:
        elapsed = time.monotonic() - started
        sim.rate_limit(None)
    mine = {f"/v1/connections/{cid}" for cid in ids} | {f"/v1/connectors/{cid}" for cid in ids}
    sent = [r for r in sim.requests[before:] if r.path in mine]
    wrong = [cid for cid in ids if sim.connection(cid)["schedule_type"] != "manual"]
    # The fewest seconds the limit allows for n requests, as the issue counts it (n / limit).
    minimum_s = n * per_seconds / rate
    api_span_s = (sent[-1].time - sent[0].time) if sent else 0.0
    return {
        "side": side,
        "pacing": pacing,
        "n": n,
        "rate": f"{rate} per {per_seconds:g} s",
        "minimum_s": minimum_s,
        "api_span_s": api_span_s,
        "api_span_x_minimum": api_span_s / minimum_s if minimum_s else None,
        "run_state": run["state"],
        "task_states": run["task_states"],
        "not_success_samples": run["not_success_samples"],
        "elapsed_s": elapsed,
        "dag_test_s": run["elapsed_s"],
        "requests": len(sent),
        "answered_429": sum(1 for r in sent if r.status == 429),
        "share_429": (sum(1 for r in sent if r.status == 429) / len(sent)) if sent else 0.0,
        "connections_not_updated": len(wrong),
        "tasks_succeeded": run["task_states"].get("success", 0),
    }


__all__ = ["ASTRO", "DAG_ID", "OURS", "run_load"]
