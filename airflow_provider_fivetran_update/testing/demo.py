"""Run the example DAGs against the simulator and show what they changed: ``make demo``.

Everything happens on this machine: a simulator on loopback with demo connections, a throw-away
AIRFLOW_HOME with a migrated SQLite database, and ``airflow dags test`` for each example DAG.
No Fivetran account is needed.

    python -m airflow_provider_fivetran_update.testing.demo [--dags-folder DIR] [--keep]

It runs from a checkout (``make demo``) and from an installed package (the wheel ships the example
DAGs inside the package); it needs the ``[simulator]`` extra.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_fivetran_update.testing import FivetranSimulator

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The wheel carries the example DAGs inside the package; a checkout has them next to it.
DAGS_FOLDER_CANDIDATES = (_PACKAGE_DIR / "example_dags", _PACKAGE_DIR.parent / "example_dags")
COLUMNS = ("paused", "sync_frequency", "setup_state", "sync_state", "succeeded_at")


@dataclass(frozen=True)
class DemoRun:
    """One example DAG run of the demo: which DAG, with what, and what the run must show."""

    dag_id: str
    connection_ids: tuple[str, ...]
    logical_date: str | None = None
    conf: Mapping[str, Any] = field(default_factory=dict)
    expected_state: str = "success"
    why: str = ""


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
        why="the work inside the window fails on purpose; the window still restores the connections",
    ),
    DemoRun(
        "example_fivetran_sync_frequency",
        ("warehouse_orders",),
        logical_date="2026-01-05T07:00:00+00:00",
    ),
    DemoRun("example_fivetran_historical_resync", ("warehouse_orders",)),
    DemoRun(
        "example_fivetran_historical_resync",
        ("legacy_mysql",),
        conf={"connection_id": "legacy_mysql"},
        expected_state="failed",
        why="legacy_mysql is broken: the resync fails at once, with Fivetran's reasons in its log",
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
    """Each connection's state before and after the run; a ``*`` marks a value the run changed."""
    header = ["connection", "state", *COLUMNS]
    lines = [header]
    for connection_id in before:
        old, new = before[connection_id], after[connection_id]
        lines.append([connection_id, "before", *(str(old[column]) for column in COLUMNS)])
        lines.append(
            [
                "",
                "after",
                *(f"{new[column]}{'' if new[column] == old[column] else ' *'}" for column in COLUMNS),
            ]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _find_dags_folder() -> Path | None:
    return next((folder for folder in DAGS_FOLDER_CANDIDATES if folder.is_dir()), None)


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


def _run_dag(run: DemoRun, env: Mapping[str, str], home: Path, number: int) -> tuple[str, float, Path]:
    command = [sys.executable, "-m", "airflow", "dags", "test", run.dag_id]
    if run.logical_date:
        command.append(run.logical_date)
    if run.conf:
        command += ["--conf", json.dumps(run.conf)]
    log_path = home / f"{number}-{run.dag_id}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        subprocess.run(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, check=False)
    return _last_run_state(home, run.dag_id), time.monotonic() - started, log_path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dags-folder",
        type=Path,
        default=None,
        help="the example DAGs (default: the ones shipped with the package, or the checkout's)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME and logs")
    args = parser.parse_args(argv)
    dags_folder = args.dags_folder or _find_dags_folder()
    if dags_folder is None or not dags_folder.is_dir():
        print(
            "The demo needs the provider's example DAGs and found none "
            f"(looked in {', '.join(str(folder) for folder in DAGS_FOLDER_CANDIDATES)}). "
            "Run it from a checkout (make demo) or pass --dags-folder.",
            file=sys.stderr,
        )
        return 2
    try:
        from airflow_provider_fivetran_update.testing import FivetranSimulator
    except ImportError as error:
        print(
            f"The demo needs the simulator's server ({error}): "
            'pip install "airflow-provider-fivetran-update[simulator]"',
            file=sys.stderr,
        )
        return 2

    home = Path(tempfile.mkdtemp(prefix="fivetran-demo-airflow-"))
    failures = 0
    try:
        with FivetranSimulator(historical_sync_seconds=6.0) as sim:
            sim.seed_demo()
            env = _airflow_env(home, dags_folder, sim)
            print(f"Fivetran simulator at {sim.url}; AIRFLOW_HOME={home}")
            print(
                "Each run below shows its connections before and after it (* marks a value the run "
                "changed), the PATCH requests it sent and how many API requests it made."
            )
            print("Migrating the Airflow metadata database (SQLite) ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for number, run in enumerate(DEMO_RUNS, start=1):
                before = _snapshot(sim, run.connection_ids)
                sim.clear_requests()
                conf = f" --conf '{json.dumps(dict(run.conf))}'" if run.conf else ""
                print(f"\n== {number}/{len(DEMO_RUNS)} {run.dag_id}{conf} ==")
                if run.why:
                    print(f"Expected to end {run.expected_state}: {run.why}.")
                state, elapsed, log_path = _run_dag(run, env, home, number)
                after = _snapshot(sim, run.connection_ids)
                calls = Counter(f"{r.method} {r.path.split('/')[2]}" for r in sim.requests)
                print(_table(before, after))
                summary = ", ".join(f"{count} x {call}" for call, count in sorted(calls.items()))
                for request in sim.requests:
                    if request.method == "PATCH":
                        connection_id = request.path.rsplit("/", 1)[-1]
                        print(f"  sent PATCH {connection_id} {json.dumps(request.json)}")
                if state == run.expected_state:
                    outcome = "as expected"
                else:
                    outcome = f"EXPECTED {run.expected_state.upper()}"
                print(
                    f"DAG run {state} ({outcome}) in {elapsed:.1f}s; "
                    f"{_plural(len(sim.requests), 'API request')}" + (f" ({summary})" if summary else ""),
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
