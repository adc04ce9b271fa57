"""Run the example DAGs against the simulator and show what they changed: ``make demo``.

Everything happens on this machine: a simulator on loopback with demo connections, a throw-away
AIRFLOW_HOME with a migrated SQLite database, and ``airflow dags test`` for each example DAG.
No Fivetran account is needed.

    python -m airflow_provider_fivetran_update.testing.demo [--dags-folder example_dags]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_fivetran_update.testing import FivetranSimulator

DEFAULT_DAGS_FOLDER = Path(__file__).resolve().parents[2] / "example_dags"
COLUMNS = ("paused", "sync_frequency", "setup_state", "sync_state", "succeeded_at")


@dataclass(frozen=True)
class DemoRun:
    """One example DAG run of the demo: which DAG, with what, and what the run must show."""

    dag_id: str
    connection_ids: tuple[str, ...]
    logical_date: str | None = None
    conf: Mapping[str, Any] = field(default_factory=dict)
    expected_state: str = "success"


DEMO_RUNS = (
    DemoRun(
        "example_fivetran_maintenance",
        ("warehouse_orders", "crm_salesforce", "ads_manual"),
    ),
    DemoRun(
        "example_fivetran_maintenance",
        ("warehouse_orders", "crm_salesforce", "ads_manual"),
        conf={"fail_maintenance": True},
        expected_state="failed",
    ),
    DemoRun(
        "example_fivetran_sync_frequency",
        ("warehouse_orders",),
        logical_date="2026-01-05T07:00:00+00:00",
    ),
    DemoRun("example_fivetran_historical_resync", ("warehouse_orders",)),
    # A broken connection: the resync task fails at once, with Fivetran's reasons in its log.
    DemoRun(
        "example_fivetran_historical_resync",
        ("legacy_mysql",),
        conf={"connection_id": "legacy_mysql"},
        expected_state="failed",
    ),
)


def _snapshot(sim: FivetranSimulator, connection_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for connection_id in connection_ids:
        data = sim.connection(connection_id)
        status = data.get("status", {})
        rows[connection_id] = {
            "paused": data.get("paused"),
            "sync_frequency": data.get("sync_frequency"),
            "setup_state": status.get("setup_state"),
            "sync_state": status.get("sync_state"),
            "succeeded_at": data.get("succeeded_at") or "-",
        }
    return rows


def _table(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> str:
    header = ["connection", *COLUMNS]
    lines = [header]
    for connection_id in before:
        cells = [connection_id]
        for column in COLUMNS:
            old, new = before[connection_id][column], after[connection_id][column]
            cells.append(str(old) if old == new else f"{old} -> {new}")
        lines.append(cells)
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def _airflow_env(home: Path, dags_folder: Path, sim: FivetranSimulator) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_FIVETRAN_DEFAULT": sim.airflow_connection_json(),
        }
    )
    return env


def _last_run_state(home: Path, dag_id: str) -> str:
    """The state of the DAG's newest run, read from the demo's SQLite metadata database."""
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute(
            "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    return str(row[0]) if row else "missing"


def _run_dag(run: DemoRun, env: Mapping[str, str], home: Path) -> tuple[str, float, Path]:
    command = [sys.executable, "-m", "airflow", "dags", "test", run.dag_id]
    if run.logical_date:
        command.append(run.logical_date)
    if run.conf:
        command += ["--conf", json.dumps(run.conf)]
    log_path = home / f"{run.dag_id}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        subprocess.run(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, check=False)
    return _last_run_state(home, run.dag_id), time.monotonic() - started, log_path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dags-folder", type=Path, default=DEFAULT_DAGS_FOLDER)
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME and logs")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="fivetran-demo-airflow-"))
    failures = 0
    try:
        with FivetranSimulator(historical_sync_seconds=6.0) as sim:
            sim.seed_demo()
            env = _airflow_env(home, args.dags_folder, sim)
            print(f"Fivetran simulator at {sim.url}; AIRFLOW_HOME={home}")
            print("Migrating the Airflow metadata database (SQLite) ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for run in DEMO_RUNS:
                before = _snapshot(sim, run.connection_ids)
                sim.clear_requests()
                print(f"\n== {run.dag_id} {json.dumps(dict(run.conf)) if run.conf else ''} ==", flush=True)
                state, elapsed, log_path = _run_dag(run, env, home)
                after = _snapshot(sim, run.connection_ids)
                calls = Counter(f"{r.method} {r.path.split('/')[2]}" for r in sim.requests)
                print(_table(before, after))
                summary = ", ".join(f"{count} x {call}" for call, count in sorted(calls.items()))
                for request in sim.requests:
                    if request.method == "PATCH":
                        connection_id = request.path.rsplit("/", 1)[-1]
                        print(f"  sent PATCH {connection_id} {json.dumps(request.json)}")
                print(
                    f"DAG run {state} in {elapsed:.1f}s; {len(sim.requests)} API requests ({summary})",
                    flush=True,
                )
                if state != run.expected_state:
                    failures += 1
                    print(f"See the log: {log_path}")
                    print("".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-40:]))
    finally:
        if args.keep or failures:
            print(f"\nAirflow home and logs kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    print(f"\nDemo {'passed' if not failures else f'failed: {failures} DAG run(s) did not end as expected'}.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
