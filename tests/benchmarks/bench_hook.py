"""Benchmark 3, hook throughput: sequential PATCHes to the simulator, one side per child process.

Sides: ``ours`` (``FivetranHook.update_connection``), ``raw`` (a bare ``requests.Session`` loop: the
floor any requests-based hook can reach) and ``astro`` (the astronomer ``FivetranHook``; its only
public PATCH is ``set_schedule_type``). All three send the same change, ``schedule_type`` flipping
between ``manual`` and ``auto``, to the same connection, and read the answer's ``data``. Each child
runs a few untimed warm-up calls, then ``repeat`` timed loops of ``n`` calls; the driver reports the
median loop.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import ASTRO, OURS, RAW, cpu_seconds, emit, median, run_child

WARMUP_CALLS = 5


def _patcher(side: str, base_url: str, connection_id: str, key: str, secret: str) -> Callable[[str], Any]:
    if side == OURS:
        from airflow_provider_fivetran_update.hooks.fivetran import FivetranHook

        hook = FivetranHook()
        return lambda value: hook.update_connection(connection_id, schedule_type=value)
    if side == RAW:
        import requests

        session = requests.Session()
        session.auth = (key, secret)
        url = f"{base_url}/v1/connections/{connection_id}"
        headers = {"Accept": "application/json;version=2", "Content-Type": "application/json"}

        def patch(value: str) -> Any:
            response = session.patch(url, json={"schedule_type": value}, headers=headers, timeout=30)
            response.raise_for_status()
            return response.json()["data"]

        return patch
    from fivetran_provider_async.hooks import FivetranHook as AstroHook

    scheme, _, host = base_url.partition("://")
    AstroHook.api_protocol = scheme
    AstroHook.api_host = host
    astro = AstroHook()
    return lambda value: astro.set_schedule_type(connection_id, value)["data"]


def child_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=[OURS, RAW, ASTRO], required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--connection-id", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # Workers log at INFO; keep the cost of formatting, not of a terminal.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"), force=True)  # noqa: SIM115
    conn = json.loads(os.environ["AIRFLOW_CONN_FIVETRAN_DEFAULT"])
    patch = _patcher(args.side, args.base_url, args.connection_id, conn["login"], conn["password"])
    values = ("manual", "auto")
    for i in range(WARMUP_CALLS):
        patch(values[i % 2])
    loops: list[dict[str, float]] = []
    last: Any = None
    for _ in range(args.repeat):
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        for i in range(args.n):
            last = patch(values[i % 2])
        loops.append({"wall_s": time.perf_counter() - t0, "cpu_s": cpu_seconds() - cpu0})
    emit(
        {
            "side": args.side,
            "n": args.n,
            "loops": loops,
            "last_schedule_type": last.get("schedule_type") if isinstance(last, dict) else None,
            "expected_last": values[(args.n - 1) % 2],
        }
    )


# ---- driver side ---------------------------------------------------------------------------


def run_hook_throughput(
    side: str,
    python: str,
    sim: Any,
    env: dict[str, str],
    *,
    n: int,
    repeat: int,
    connection_id: str = "hook_bench",
) -> dict[str, Any]:
    """``repeat`` loops of ``n`` sequential PATCHes by ``side``; median loop, requests counted."""
    if connection_id not in sim.connection_ids():
        sim.add_connection(connection_id, schedule_type="auto")
    before = sim.request_count(method="PATCH")
    result = run_child(
        python,
        "bench_hook.py",
        [
            "--side",
            side,
            "--base-url",
            sim.url,
            "--connection-id",
            connection_id,
            "--n",
            str(n),
            "--repeat",
            str(repeat),
        ],
        env=env,
        timeout=600,
    )
    walls = [loop["wall_s"] for loop in result["loops"]]
    cpus = [loop["cpu_s"] for loop in result["loops"]]
    result["requests"] = sim.request_count(method="PATCH") - before
    result["expected_requests"] = n * repeat + WARMUP_CALLS
    result["wall_s"] = median(walls)
    result["wall_s_samples"] = walls
    result["cpu_s"] = median(cpus)
    result["per_s"] = n / result["wall_s"]
    result["ms_per_call"] = result["wall_s"] / n * 1000
    result["final_state"] = sim.connection(connection_id)["schedule_type"]
    return result


def run_hook_rounds(
    sides: list[tuple[str, str]],
    sim: Any,
    env: dict[str, str],
    *,
    n: int,
    rounds: int,
) -> dict[str, dict[str, Any]]:
    """``rounds`` rounds in which every side, in turn, runs one loop of ``n`` PATCHes in a fresh child.

    Interleaving the sides spreads a change of the machine's load over all of them instead of
    charging it to whichever side ran while it lasted.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sides}
    for _ in range(rounds):
        for name, python in sides:
            runs[name].append(
                run_hook_throughput(name, python, sim, env, n=n, repeat=1, connection_id=f"hook_{name}")
            )
    combined: dict[str, dict[str, Any]] = {}
    for name, results in runs.items():
        walls = [wall for result in results for wall in result["wall_s_samples"]]
        cpus = [loop["cpu_s"] for result in results for loop in result["loops"]]
        last = results[-1]
        combined[name] = {
            "side": name,
            "n": n,
            "rounds": rounds,
            "requests": sum(result["requests"] for result in results),
            "expected_requests": sum(result["expected_requests"] for result in results),
            "wall_s": median(walls),
            "wall_s_samples": walls,
            "cpu_s": median(cpus),
            "per_s": n / median(walls),
            "ms_per_call": median(walls) / n * 1000,
            "last_schedule_type": last["last_schedule_type"],
            "expected_last": last["expected_last"],
            "final_state": last["final_state"],
        }
    return combined


if __name__ == "__main__":
    child_main()
