"""Shared pieces of the benchmarks: sides, child processes, statistics and /proc sampling.

Every benchmark compares "sides": ``ours`` (this provider, run with the project's ``.venv``) and
``astro`` (airflow-provider-fivetran-async, run with ``.bench/astro``). A side always runs in its own
child process with its own interpreter, so neither side's imports, threads or CPU are counted for
the other, and the simulator (which runs in the driver process) is never counted for either.

This module uses the standard library only: the child scripts import it from both venvs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent

OURS = "ours"
ASTRO = "astro"
RAW = "raw"

# The astronomer provider's modules that a DAG file using its operator and sensor imports.
ASTRO_OPERATOR_MODULE = "fivetran_provider_async.operators"
ASTRO_SENSOR_MODULE = "fivetran_provider_async.sensors"
OUR_OPERATOR_MODULE = "airflow_provider_fivetran_update.operators.fivetran"
OUR_SENSOR_MODULE = "airflow_provider_fivetran_update.sensors.fivetran"


class BenchmarkSkipped(Exception):
    """A scenario whose feature (or baseline) is not there; the message says why."""


@dataclass(frozen=True)
class Side:
    """One contestant: a name and the interpreter of its own virtualenv."""

    name: str
    python: str


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """``min-max`` of a series, for the table's footnotes."""
    if not values:
        return "-"
    return f"{min(values):.3g}-{max(values):.3g}"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def child_env(airflow_home: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a side's process: a private AIRFLOW_HOME, quiet Airflow, loopback only."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "PYTEST_", "VIRTUAL_ENV"))
    }
    env["AIRFLOW_HOME"] = airflow_home or tempfile.mkdtemp(prefix="fivetran-bench-home-")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(key, None)
    if extra:
        env.update(extra)
    return env


def run_child(
    python: str,
    script: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
) -> dict[str, Any]:
    """Run ``python tests/benchmarks/<script> args`` and return the JSON object of its last stdout line."""
    command = [python, str(HERE / script), *args]
    proc = subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(command)} exited {proc.returncode}\n"
            f"--- stdout (tail)\n{proc.stdout[-3000:]}\n--- stderr (tail)\n{proc.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ---- /proc sampling (Linux): the numbers the triggerer's own process would show in `top` ----


def proc_status() -> dict[str, int]:
    """RSS, peak RSS (kB) and OS thread count of this process, from /proc/self/status."""
    wanted = {"VmRSS": "rss_kb", "VmHWM": "hwm_kb", "Threads": "threads"}
    out: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in wanted:
                out[wanted[key]] = int(value.split()[0])
    return out


def cpu_seconds() -> float:
    """User plus system CPU of this process, all threads included."""
    times = os.times()
    return times.user + times.system


def emit(result: Mapping[str, Any]) -> None:
    """A child's answer: one JSON line on stdout (its last), read by :func:`run_child`."""
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def monotonic() -> float:
    """CLOCK_MONOTONIC: the same clock in every process on this machine."""
    return time.monotonic()


# ---- Airflow homes and dag.test children ------------------------------------------------------

_MIGRATED: dict[str, str] = {}


def migrated_db(python: str, *, template_db: str | None = None) -> str:
    """Path of a migrated SQLite metadata DB for ``python``'s Airflow (made once per driver run).

    ``template_db`` reuses an already migrated database (the test suite's), copied, never shared.
    """
    if template_db:
        return template_db
    if python not in _MIGRATED:
        home = tempfile.mkdtemp(prefix="fivetran-bench-migrated-")
        subprocess.run(
            [python, "-m", "airflow", "db", "migrate"],
            env=child_env(home),
            check=True,
            capture_output=True,
            timeout=600,
        )
        _MIGRATED[python] = str(Path(home) / "airflow.db")
    return _MIGRATED[python]


def airflow_home_with_dags(db: str, dag_sources: Mapping[str, str]) -> tuple[str, str]:
    """A fresh AIRFLOW_HOME holding a copy of the migrated ``db`` and a dags folder with the files."""
    import shutil

    home = tempfile.mkdtemp(prefix="fivetran-bench-home-")
    shutil.copy(db, Path(home) / "airflow.db")
    dags = Path(home) / "dags"
    dags.mkdir()
    for name, source in dag_sources.items():
        (dags / f"{name}.py").write_text(source, encoding="utf-8")
    return home, str(dags)


def run_dags(
    python: str,
    dag_ids: Sequence[str],
    *,
    home: str,
    dags_folder: str,
    conn_json: str,
    timeout: float = 900,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``dag.test()`` each DAG in one child process of ``python``; per-DAG state and task states."""
    env = child_env(
        home,
        {
            "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
            "AIRFLOW_CONN_FIVETRAN_DEFAULT": conn_json,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            **(extra_env or {}),
        },
    )
    args: list[str] = []
    for dag_id in dag_ids:
        args += ["--dag-id", dag_id]
    result: dict[str, Any] = run_child(python, "bench_dagtest.py", args, env=env, timeout=timeout)["runs"]
    return result
