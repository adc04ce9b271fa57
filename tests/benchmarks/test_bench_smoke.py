"""Smoke runs of every benchmark at tiny sizes: the benchmark code works and measures the right thing.

These tests assert correctness only (every event delivered, every request counted, every
connection updated), never a timing: timings are `make bench`'s job, on a quiet machine.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from bench_hook import run_hook_throughput
from bench_imports import measure_import_cost
from bench_load import run_load
from bench_quota import SCENARIOS, QuotaParams, run_quota
from bench_triggers import run_trigger_capacity
from benchlib import (
    ASTRO,
    ASTRO_OPERATOR_MODULE,
    ASTRO_SENSOR_MODULE,
    OUR_OPERATOR_MODULE,
    OUR_SENSOR_MODULE,
    OURS,
    RAW,
    Side,
    child_env,
)
from run_benchmarks import goals, markdown

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]


def test_import_cost_counts_only_the_provider_modules(side: Side) -> None:
    modules = (
        [OUR_OPERATOR_MODULE, OUR_SENSOR_MODULE]
        if side.name == OURS
        else [ASTRO_OPERATOR_MODULE, ASTRO_SENSOR_MODULE]
    )
    result = measure_import_cost(side, modules, runs=1, warmup=False)
    package = "airflow_provider_fivetran_update" if side.name == OURS else "fivetran_provider_async"
    assert package in result["new_packages"]
    assert result["provider_ms"] > 0 and result["provider_cpu_ms"] >= 0
    if side.name == OURS:
        # The architecture rule the DAG-parse figure depends on: no HTTP stack while parsing.
        assert not {"requests", "httpx", "tenacity", "uvicorn", "starlette"} & set(result["new_packages"])


def test_triggers_deliver_every_event(side: Side, bench_sim: Any) -> None:
    env = child_env(extra=bench_sim.airflow_env())
    result = run_trigger_capacity(
        side.name, side.python, bench_sim, env, n=5, poll=0.5, warmup=0.5, prefix=f"smoke_{side.name}_"
    )
    assert result["events"] == 5
    assert result["statuses"] == {"success": 5}
    assert result["requests"] >= 5
    assert result["deliver_s"] is not None and result["startup_s"] is not None


@pytest.mark.parametrize("extra_side", [None, RAW])
def test_hook_throughput_sends_every_patch(side: Side, extra_side: str | None, bench_sim: Any) -> None:
    if extra_side and side.name != OURS:
        pytest.skip("the raw loop runs in our venv")
    name = extra_side or side.name
    env = child_env(extra=bench_sim.airflow_env())
    result = run_hook_throughput(
        name, side.python, bench_sim, env, n=4, repeat=1, connection_id=f"smoke_{name}"
    )
    assert result["requests"] == result["expected_requests"] == 4 + 5
    assert result["last_schedule_type"] == result["expected_last"] == result["final_state"] == "auto"


def test_quota_scenarios_run_or_say_why_not(bench_sim: Any, template_db: str) -> None:
    rows = run_quota(sys.executable, bench_sim, template_db, QuotaParams(2, 1.0, 0.5))
    assert len(rows) == len(SCENARIOS)
    ran = [row for row in rows if "skipped" not in row]
    assert ran, rows
    for row in rows:
        if "skipped" in row:
            assert row["skipped"]
            continue
        assert row["run_state"] == "success", row
        assert row["problem"] is None, row
        # Smoke sizes only check that each scenario runs and is measured: how many polls a
        # 1-second resync wait takes depends on how fast dag.test() starts tasks (seconds on
        # Airflow 3.1), so the comparison with the minimum belongs to `make bench`.
        assert row["requests"] >= 1 and row["minimum"] >= 1, row


def test_rate_limited_mapped_updates_all_land(side: Side, bench_sim: Any, template_db: str) -> None:
    from benchlib import migrated_db

    db = template_db if side.name == OURS else migrated_db(side.python)
    result = run_load(
        side.name,
        side.python,
        bench_sim,
        db,
        n=3,
        rate=2,
        per_seconds=2.0,
        prefix=f"smoke_{side.name}_",
        pacing=True if side.name == OURS else None,
    )
    assert result["requests"] >= 3
    if side.name == OURS:
        assert result["tasks_succeeded"] == 3 and result["connections_not_updated"] == 0, result
        assert result["requests"] == 3 + result["answered_429"], result
        assert result["minimum_s"] == 3.0 and result["api_span_s"] > 0, result
    else:
        # The baseline does not retry 429: each task either landed its change or failed.
        assert result["tasks_succeeded"] + result["task_states"].get("failed", 0) == 3, result
        assert result["connections_not_updated"] == 3 - result["tasks_succeeded"], result


def test_table_writer_reports_each_goal() -> None:
    side = {
        "n": 2,
        "events_min": 2,
        "rss_growth_mb": 1.0,
        "threads_peak": 2,
        "threads_base": 2,
        "cpu_s": 1.0,
        "cpu_s_samples": [1.0],
        "rss_growth_mb_samples": [1.0],
        "runs": 1,
        "poll_s": 1,
        "warmup_s": 1,
    }
    results: dict[str, Any] = {
        "meta": {
            "ours": "0",
            "astro": "2.4.0",
            "airflow_ours": "3",
            "airflow_astro": "3",
            "python": "3",
            "machine": "m",
            "date": "d",
            "load_average_start": [0.0],
            "load_average_end": [0.0],
        },
        "imports": {
            OURS: {
                "provider_ms": 5.0,
                "provider_cpu_ms": 4.0,
                "provider_ms_spread": "-",
                "provider_cpu_ms_spread": "-",
                "runs": 1,
                "modules": ["m"],
                "new_modules": 3,
                "importtime_top_ms": {"x": 1.0},
            },
            ASTRO: {"skipped": "no baseline"},
        },
        "triggers": {OURS: side, ASTRO: {**side, "cpu_s": 6.0}},
        "hook": {
            OURS: {"per_s": 90.0, "ms_per_call": 11.1, "requests": 5, "expected_requests": 5},
            RAW: {
                "per_s": 100.0,
                "ms_per_call": 10.0,
                "requests": 5,
                "expected_requests": 5,
                "n": 5,
                "wall_s_samples": [0.05],
            },
            ASTRO: {"skipped": "no baseline"},
        },
        "quota": {
            "rows": [
                {"scenario": "s", "skipped": "later"},
                {
                    "scenario": "One update",
                    "requests": 1,
                    "minimum": 1,
                    "by_method": {"PATCH": 1},
                    "minimum_why": "w",
                    "problem": None,
                },
            ]
        },
        "durations_s": {"imports": 1.0},
    }
    verdicts = {row["goal"]: row["met"] for row in goals(results)}
    assert verdicts["Hook: >= 0.8x a raw requests.Session loop"] is True
    assert verdicts["Triggerer: CPU <= 1/3 of the baseline's"] is True
    assert verdicts["Quota: s at the minimum"] is None
    page = markdown(results, "benchmarks.png")
    assert "How to reproduce: `make bench`" in page
    assert "![" in page and "| One update | 1 (PATCH 1) | 1 |" in page


def test_sync_and_wait_completes_every_sync(side: Side, bench_sim: Any, template_db: str) -> None:
    from bench_sync import run_sync_wait
    from benchlib import migrated_db

    db = template_db if side.name == OURS else migrated_db(side.python)
    result = run_sync_wait(
        side.name, side.python, bench_sim, db, n=2, poll=0.5, prefix=f"smoke_sync_{side.name}_"
    )
    assert result["syncs_completed"] == 2 and result["requests_per_sync"] is not None, result
    if side.name == OURS:
        assert result["tasks_succeeded"] == 2 and result["schedule_changed"] == 0, result
        # Per sync: one read before the request, the request, then reads until it completed.
        assert result["by_method"]["POST sync"] == 2, result


def test_sync_waits_in_the_triggerer_deliver_every_event(side: Side, bench_sim: Any) -> None:
    env = child_env(extra=bench_sim.airflow_env())
    result = run_trigger_capacity(
        side.name,
        side.python,
        bench_sim,
        env,
        n=5,
        poll=0.5,
        warmup=0.5,
        prefix=f"smoke_sw_{side.name}_",
        kind="sync",
    )
    assert result["events"] == 5 and result["statuses"] == {"success": 5}, result
