"""Benchmark 6, sync and wait: requests per completed sync, and the waits in the triggerer.

Part one: one DAG run of N sync-and-wait tasks (one per connection, deferrable, polling every
``poll`` seconds) with ``dag.test()`` in a child process of the side's venv (a fresh AIRFLOW_HOME
with a migrated SQLite DB). Ours: ``FivetranSyncConnectionOperator``; astronomer:
``FivetranOperator`` with its defaults (which switch the connection to the manual schedule). The
simulator counts every request to the N connections; afterwards every sync must have completed.

Part two, the triggerer's side of the same wait, runs through
:func:`bench_triggers.run_trigger_capacity` with ``kind="sync"``: N waits for a completed sync in
one asyncio loop (ours: the state trigger with the ``sync_completed`` condition; astronomer:
``FivetranTrigger``, which is its operator's wait).
"""

from __future__ import annotations

import time
from typing import Any

from benchlib import ASTRO, OURS, airflow_home_with_dags, run_dags

DAG_ID = "bench_sync_and_wait"

_OURS_DAG = """\
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_fivetran_update.operators.fivetran import FivetranSyncConnectionOperator

with DAG(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    for connection_id in {ids!r}:
        FivetranSyncConnectionOperator(
            task_id=f"sync_{{connection_id}}",
            connection_id=connection_id,
            deferrable=True,
            poll_interval={poll!r},
        )
"""

_ASTRO_DAG = """\
from __future__ import annotations

import pendulum
from airflow.sdk import DAG
from fivetran_provider_async.hooks import FivetranHook, FivetranHookAsync
from fivetran_provider_async.operators import FivetranOperator

# No base-URL setting in these hooks: point their class attributes at the simulator.
for hook in (FivetranHook, FivetranHookAsync):
    hook.api_protocol = {scheme!r}
    hook.api_host = {host!r}

with DAG(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    for connection_id in {ids!r}:
        FivetranOperator(
            task_id=f"sync_{{connection_id}}",
            connector_id=connection_id,
            deferrable=True,
            poll_frequency={poll!r},
        )
"""


def run_sync_wait(
    side: str, python: str, sim: Any, db: str, *, n: int, poll: float, prefix: str
) -> dict[str, Any]:
    """One DAG run of ``n`` sync-and-wait tasks by ``side`` against ``sim``; requests per completed sync."""
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    for cid in ids:
        # A connection that has synced before, on Fivetran's own schedule.
        sim.add_connection(cid, schedule_type="auto")
        sim.set_status(cid, succeeded_at=time.time() - 3600)
    before_sync = {cid: sim.connection(cid)["succeeded_at"] for cid in ids}
    scheme, _, host = sim.url.partition("://")
    template = _OURS_DAG if side == OURS else _ASTRO_DAG
    source = template.format(dag_id=DAG_ID, ids=ids, poll=poll, scheme=scheme, host=host)
    home, dags = airflow_home_with_dags(db, {DAG_ID: source})
    before = len(sim.requests)
    started = time.monotonic()
    run = run_dags(python, [DAG_ID], home=home, dags_folder=dags, conn_json=sim.airflow_connection_json())[
        DAG_ID
    ]
    elapsed = time.monotonic() - started
    mine = tuple(f"/v1/{kind}/{cid}" for cid in ids for kind in ("connections", "connectors"))
    sent = [r for r in sim.requests[before:] if r.path.startswith(mine)]
    by_method: dict[str, int] = {}
    for request in sent:
        key = (
            f"{request.method} {request.path.rsplit('/', 1)[-1] if request.method == 'POST' else ''}".strip()
        )
        by_method[key] = by_method.get(key, 0) + 1
    completed = sum(1 for cid in ids if sim.connection(cid)["succeeded_at"] != before_sync[cid])
    schedule_changed = sum(1 for cid in ids if sim.connection(cid)["schedule_type"] != "auto")
    return {
        "side": side,
        "n": n,
        "poll_s": poll,
        "run_state": run["state"],
        "task_states": run["task_states"],
        "not_success_samples": run["not_success_samples"],
        "elapsed_s": elapsed,
        "requests": len(sent),
        "by_method": dict(sorted(by_method.items())),
        "syncs_completed": completed,
        "requests_per_sync": len(sent) / completed if completed else None,
        "schedule_changed": schedule_changed,
        "tasks_succeeded": run["task_states"].get("success", 0),
    }


__all__ = ["ASTRO", "DAG_ID", "OURS", "run_sync_wait"]
