"""Benchmark 2, triggerer capacity: N state triggers of one side in one asyncio loop.

This file is both the child process (``python bench_triggers.py --side ours ...``, run with that
side's interpreter; standard library plus the side's provider only) and the driver function
:func:`run_trigger_capacity`, which hosts the simulator in its own process so that the simulator's
CPU is never counted as the triggers'.

The scenario, the same for both sides: N connections report ``sync_state="syncing"``; the child
starts one trigger per connection and says READY; the driver lets them poll for ``warmup`` seconds,
then reports every connection as finished (``sync_state="scheduled"`` with a fresh ``succeeded_at``,
which is what each side's trigger waits for) and the child counts events until it has N of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import contextlib

from benchlib import ASTRO, OURS, cpu_seconds, emit, monotonic, proc_status

READY = "READY"


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _make_triggers(
    side: str,
    ids: list[str],
    base_url: str,
    poll: float,
    deadline: float,
    *,
    since: float | None = None,
    kind: str = "state",
) -> list[Any]:
    if side == OURS:
        from airflow_provider_fivetran_update.triggers.fivetran import FivetranConnectionStateTrigger

        if kind == "sync":
            # The sync operator's wait: a sync completed after the moment it was requested.
            from airflow_provider_fivetran_update.waiting import WaitCondition

            after = time.time() - 60 if since is None else since
            condition = WaitCondition.sync_completed(completed_after=after).to_json()
            return [
                FivetranConnectionStateTrigger(
                    connection_id=cid,
                    end_time=time.time() + deadline,
                    poll_interval=poll,
                    wait_condition=condition,
                )
                for cid in ids
            ]
        return [
            FivetranConnectionStateTrigger(
                connection_id=cid,
                end_time=time.time() + deadline,
                expected_setup_state="connected",
                expected_sync_state="scheduled",
                poll_interval=poll,
            )
            for cid in ids
        ]
    from fivetran_provider_async.hooks import FivetranHookAsync
    from fivetran_provider_async.triggers import FivetranTrigger

    # The astronomer hook has no base-URL setting: it builds https://api.fivetran.com/v1/connectors/...
    # from two class attributes. Point them at the simulator (which serves the legacy path).
    scheme, _, host = base_url.partition("://")
    FivetranHookAsync.api_protocol = scheme
    FivetranHookAsync.api_host = host
    previous = None
    if since is not None:
        import pendulum

        previous = pendulum.from_timestamp(since)
    return [
        FivetranTrigger(
            task_id=f"wait_{cid}",
            connector_id=cid,
            fivetran_conn_id="fivetran_default",
            poke_interval=poll,
            previous_completed_at=previous,
        )
        for cid in ids
    ]


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    ids = [f"{args.prefix}{i:05d}" for i in range(args.n)]
    # One trigger on a connection that is already done, run to its event before anything is
    # measured: it loads every module and connection a running triggerer already has loaded.
    (warm,) = _make_triggers(
        args.side, [args.warm_id], args.base_url, args.poll, args.deadline, since=0.0, kind=args.kind
    )
    async for event in warm.run():
        if event.payload.get("status") != "success":
            raise RuntimeError(f"warm-up trigger failed: {event.payload}")
        break
    base = proc_status()
    cpu0 = cpu_seconds()
    triggers = _make_triggers(args.side, ids, args.base_url, args.poll, args.deadline, kind=args.kind)
    statuses: Counter[str] = Counter()
    samples: list[str] = []
    event_times: list[float] = []
    peak = {"rss_kb": base["rss_kb"], "threads": base["threads"]}
    done = asyncio.Event()

    async def consume(trigger: Any) -> None:
        async for event in trigger.run():
            payload = event.payload
            status = str(payload.get("status"))
            statuses[status] += 1
            event_times.append(monotonic())
            if status != "success" and len(samples) < 3:
                samples.append(str(payload.get("message"))[:300])
            break
        if len(event_times) >= args.n:
            done.set()

    timeline: list[tuple[float, float]] = []

    async def sample() -> None:
        while not done.is_set():
            now = proc_status()
            peak["rss_kb"] = max(peak["rss_kb"], now["rss_kb"])
            peak["threads"] = max(peak["threads"], now["threads"])
            timeline.append((monotonic(), cpu_seconds()))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    tasks = [asyncio.create_task(consume(trigger)) for trigger in triggers]
    started = monotonic()
    with open(args.ready_file, "w", encoding="ascii") as ready:
        ready.write(f"{READY} {started}\n")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=args.deadline)
    finished = monotonic()
    cpu = cpu_seconds() - cpu0
    end = proc_status()
    peak["rss_kb"] = max(peak["rss_kb"], end["rss_kb"])
    peak["threads"] = max(peak["threads"], end["threads"])
    for task in tasks:
        task.cancel()
    sampler.cancel()
    await asyncio.gather(*tasks, sampler, return_exceptions=True)
    return {
        "side": args.side,
        "n": args.n,
        "events": len(event_times),
        "statuses": dict(statuses),
        "non_success_samples": samples,
        "started": started,
        "first_event": min(event_times) if event_times else None,
        "last_event": max(event_times) if event_times else None,
        "run_s": finished - started,
        "cpu_s": cpu,
        "rss_base_mb": base["rss_kb"] / 1024,
        "rss_growth_mb": (peak["rss_kb"] - base["rss_kb"]) / 1024,
        "threads_base": base["threads"],
        "threads_peak": peak["threads"],
        "cpu_timeline": timeline,
    }


def child_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=[OURS, ASTRO], required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--prefix", default="trg_")
    parser.add_argument("--warm-id", required=True)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--deadline", type=float, default=300.0)
    parser.add_argument("--kind", choices=["state", "sync"], default="state")
    args = parser.parse_args()
    _raise_fd_limit()
    # The triggerer logs every poll at INFO; keep that cost in, but send it to a file, not a pipe.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"), force=True)  # noqa: SIM115
    emit(asyncio.run(_child(args)))


# ---- driver side ---------------------------------------------------------------------------


def _cpu_at(timeline: list[list[float]], when: float) -> float:
    """The child's CPU seconds at ``when``: the last sample taken at or before it."""
    value = timeline[0][1] if timeline else 0.0
    for moment, cpu in timeline:
        if moment > when:
            break
        value = cpu
    return value


def run_trigger_capacity(
    side: str,
    python: str,
    sim: Any,
    env: dict[str, str],
    *,
    n: int,
    poll: float,
    warmup: float,
    deadline: float = 300.0,
    prefix: str = "trg_",
    kind: str = "state",
) -> dict[str, Any]:
    """Start ``n`` triggers of ``side`` against ``sim`` in a child process; flip every connection
    after ``warmup`` seconds; return the child's figures plus the flip time and requests sent."""
    _raise_fd_limit()
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    long_ago = time.time() - 3600
    existing = set(sim.connection_ids())
    warm_id = f"{prefix}warm"
    if warm_id not in existing:
        sim.add_connection(warm_id, schedule_type="manual")
    sim.set_status(warm_id, setup_state="connected", sync_state="scheduled", succeeded_at=time.time())
    for cid in ids:
        if cid not in existing:
            sim.add_connection(cid, schedule_type="manual")
        sim.set_status(cid, setup_state="connected", sync_state="syncing", succeeded_at=long_ago)
    before = sim.request_count()
    workdir = tempfile.mkdtemp(prefix=f"fivetran-bench-triggers-{side}-")
    ready_file = os.path.join(workdir, "ready")
    log_path = os.path.join(workdir, "child.log")
    command = [
        python,
        os.path.abspath(__file__),
        "--side",
        side,
        "--base-url",
        sim.url,
        "--n",
        str(n),
        "--prefix",
        prefix,
        "--warm-id",
        warm_id,
        "--ready-file",
        ready_file,
        "--poll",
        str(poll),
        "--deadline",
        str(deadline),
        "--kind",
        kind,
    ]
    # The child's log (Airflow writes it to stdout) goes to a file: a pipe nobody reads would stall it.
    with open(log_path, "w+", encoding="utf-8") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        limit = monotonic() + 180
        while not os.path.exists(ready_file):
            if proc.poll() is not None or monotonic() > limit:
                proc.kill()
                proc.wait()
                log.seek(0)
                raise RuntimeError(f"trigger child ({side}) did not start:\n{log.read()[-3000:]}")
            time.sleep(0.05)
        # Warm-up starts once every trigger has polled once: creating the triggers' clients may
        # take a while, and a flip before the first poll would measure nothing.
        # Batched triggers (ours) read all connections with one list call per 1,000 of them.
        before_polls = sim.request_count()
        lists_before = sim.request_count(method="GET", path="/v1/connections")
        pages = -(-len(sim.connection_ids()) // 1000)
        first_polls_by = None
        while monotonic() < limit + deadline:
            listed = sim.request_count(method="GET", path="/v1/connections") - lists_before
            if sim.request_count() - before_polls >= n or listed >= pages:
                first_polls_by = monotonic()
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(warmup)
        requests_warmup = sim.request_count() - before
        flipped = monotonic()
        for cid in ids:
            sim.set_status(cid, sync_state="scheduled", succeeded_at=time.time())
        proc.wait(timeout=deadline + 60)
        log.seek(0)
        output = log.read()
    lines = [x for x in output.splitlines() if x.startswith('{"side"')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"trigger child ({side}) failed ({proc.returncode}):\n{output[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["log_lines"] = output.count("\n")
    result["requests"] = sim.request_count() - before
    result["requests_warmup"] = requests_warmup
    result["requests_per_trigger"] = result["requests"] / n
    result["deliver_s"] = (result["last_event"] - flipped) if result["last_event"] else None
    result["startup_s"] = (first_polls_by - result["started"]) if first_polls_by else None
    timeline = result.pop("cpu_timeline")
    result["cpu_startup_s"] = (
        _cpu_at(timeline, first_polls_by) - _cpu_at(timeline, result["started"]) if first_polls_by else None
    )
    # CPU per second while the triggers just poll (between the end of startup and the flip).
    if first_polls_by:
        result["cpu_polling_per_s"] = (_cpu_at(timeline, flipped) - _cpu_at(timeline, first_polls_by)) / (
            flipped - first_polls_by
        )
    result["warmup_s"] = warmup
    result["poll_s"] = poll
    return result


if __name__ == "__main__":
    child_main()
