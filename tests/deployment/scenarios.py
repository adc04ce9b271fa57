"""What the deployment test runs on the deployment, and what it expects to see from the outside.

Each example DAG gets Fivetran connections of its own in the simulator, so the simulator's request
log can be held to exactly the calls that DAG should make. All runs go at once; the fault run
(triggerer SIGKILL + restart during a deferred wait) happens among them.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import window_scenarios
from harness import DeploymentError, http_json, log, random_secret

if TYPE_CHECKING:
    from run_deployment import Deployment

TERMINAL_RUN_STATES = {"success", "failed"}
RUN_TIMEOUT = float(os.environ.get("DEPLOY_TIMEOUT", "240"))
# A historical sync lasts an hour of simulated time: it ends only when the test moves the
# simulator's clock, so every deferred wait spans several trigger polls, on any machine speed.
HISTORICAL_SYNC_SECONDS = 3600

MAINTENANCE = "example_fivetran_maintenance"
RESYNC = "example_fivetran_historical_resync"
FREQUENCY = "example_fivetran_sync_frequency"
SMOKE = "deploy_smoke"
EXAMPLE_DAG_IDS = (MAINTENANCE, RESYNC, FREQUENCY)
MAINTENANCE_WORK_TASK = "maintenance"  # the one task meant to fail with fail_maintenance

MAINT_OK = ["deploy_maint_a", "deploy_maint_b", "deploy_maint_c", "deploy_maint_d"]
MAINT_FAIL = ["deploy_fail_a", "deploy_fail_b"]
RESYNC_OK = "deploy_resync"
RESYNC_FAULT = "deploy_resync_fault"
FREQ = "deploy_freq"
# The run the scheduler creates by itself uses the example's default connection id: read from the
# DAG's params through the REST API, and added to the simulator if it is not one of its seeds.
FREQ_SCHEDULED: dict[str, str] = {}
# The frequency example picks 60 during 07:00-19:00 UTC of the logical date, 360 otherwise.
FREQ_RUNS = {"2026-01-05T08:00:00Z": 60, "2026-01-05T20:00:00Z": 360}

# One secret per simulator connection, in its config: none may reach a log file.
_CONFIG_SECRETS: dict[str, str] = {}


def connection_body(sim_url: str, api_key: str, api_secret: str) -> dict[str, Any]:
    """``fivetran_default`` as POSTed to /api/v2/connections: key as login, secret as password."""
    return {
        "connection_id": "fivetran_default",
        "conn_type": "fivetran",
        "host": sim_url,
        "login": api_key,
        "password": api_secret,
    }


def simulator_args(port: int, api_key: str, api_secret: str) -> list[str]:
    return [
        "--port", str(port),
        "--api-key", api_key,
        "--api-secret", api_secret,
        "--historical-sync-seconds", str(HISTORICAL_SYNC_SECONDS),
    ]  # fmt: skip


def seed_secrets() -> list[str]:
    return list(_CONFIG_SECRETS.values())


# --------------------------------------------------------------------------- results


@dataclass
class Results:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append((name, passed, detail))
        log(f"{'PASS' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return passed

    def report(self) -> bool:
        failed = [c for c in self.checks if not c[1]]
        log(f"{len(self.checks) - len(failed)}/{len(self.checks)} checks passed")
        for name, _, detail in failed:
            log(f"  failed: {name}: {detail}")
        return bool(self.checks) and not failed


# --------------------------------------------------------------------------- simulator


class Simulator:
    """The simulator's admin endpoints (no auth, not recorded)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def add_connection(self, connection_id: str, **fields: Any) -> None:
        secret = random_secret("cfgpw")
        _CONFIG_SECRETS[connection_id] = secret
        body = {
            "id": connection_id,
            "service": "postgres",
            "config": {"host": f"{connection_id}.db.internal", "user": "etl", "password": secret},
            **fields,
        }
        status, payload = http_json("POST", f"{self.url}/__admin/connections", body=body)
        if status != 201:
            raise DeploymentError(f"simulator refused connection {connection_id}: {status} {payload!r}")

    def connection_ids(self) -> list[str]:
        status, payload = http_json("GET", f"{self.url}/__admin/connections")
        if status != 200:
            raise DeploymentError(f"GET /__admin/connections answered {status}: {payload!r}")
        return [str(item["id"]) for item in payload["items"]]

    def remember_seed_secrets(self, connection_id: str) -> None:
        """The unmasked secrets of a seeded connection join the values no log may contain."""

        def walk(node: Any, key: str = "") -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, str(k))
            elif (
                isinstance(node, str)
                and len(node) >= 8
                and any(word in key.lower() for word in ("password", "secret", "key", "token"))
            ):
                _CONFIG_SECRETS[f"{connection_id}.{key}"] = node

        raw = self.connection(connection_id)
        walk({"config": raw.get("config"), "auth": raw.get("auth")})

    def requests(self) -> list[dict[str, Any]]:
        status, payload = http_json("GET", f"{self.url}/__admin/requests")
        if status != 200:
            raise DeploymentError(f"GET /__admin/requests answered {status}: {payload!r}")
        return list(payload["requests"])

    def advance(self, seconds: float) -> None:
        status, payload = http_json("POST", f"{self.url}/__admin/clock/advance", body={"seconds": seconds})
        if status != 200:
            raise DeploymentError(f"POST /__admin/clock/advance answered {status}: {payload!r}")

    def gets(self, connection_id: str) -> int:
        return sum(1 for r in calls_for(self.requests(), connection_id) if r["method"] == "GET")

    def connection(self, connection_id: str) -> dict[str, Any]:
        status, payload = http_json("GET", f"{self.url}/__admin/connections/{connection_id}")
        if status != 200:
            raise DeploymentError(f"GET /__admin/connections/{connection_id} answered {status}: {payload!r}")
        return dict(payload["data"])


def calls_for(requests: list[dict[str, Any]], connection_id: str) -> list[dict[str, Any]]:
    return [r for r in requests if r["path"] == f"/v1/connections/{connection_id}"]


def patches(requests: list[dict[str, Any]], connection_id: str) -> list[Any]:
    return [r["json"] for r in calls_for(requests, connection_id) if r["method"] == "PATCH"]


# --------------------------------------------------------------------------- watching runs


@dataclass
class RunWatch:
    """One DAG run, polled through the REST API; every TI state ever seen is kept."""

    dag_id: str
    run_id: str
    label: str
    state: str | None = None
    logical_date: str | None = None
    seen: dict[tuple[str, int], list[str | None]] = field(default_factory=lambda: defaultdict(list))
    tis: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_RUN_STATES

    def poll(self, dep: Deployment) -> None:
        assert dep.api is not None
        run = dep.api.get(f"/dags/{self.dag_id}/dagRuns/{self.run_id}")
        for ti in dep.api.paged(f"/dags/{self.dag_id}/dagRuns/{self.run_id}/taskInstances", "task_instances"):
            key = (ti["task_id"], ti.get("map_index", -1))
            self.tis[key] = ti
            states = self.seen[key]
            if not states or states[-1] != ti.get("state"):
                states.append(ti.get("state"))
        # The run state is read after the TIs, so a terminal run's TIs are final too.
        self.state = run.get("state")
        self.logical_date = run.get("logical_date")
        if self.done and self.finished_at is None:
            self.finished_at = time.monotonic()

    def ti_states(self) -> dict[str, str | None]:
        # A mapped task keeps a map_index -1 row without state once expanded: not a task instance.
        mapped = {t for (t, m) in self.tis if m >= 0}
        return {
            f"{t}[{m}]" if m >= 0 else t: ti.get("state")
            for (t, m), ti in sorted(self.tis.items())
            if m >= 0 or t not in mapped
        }

    def deferred_keys(self) -> list[tuple[str, int]]:
        """The task instances ever seen ``deferred``: found, not named, so the examples may change."""
        return [key for key, states in sorted(self.seen.items()) if "deferred" in states]

    def deferred_now(self) -> tuple[str, int] | None:
        return next((key for key, ti in sorted(self.tis.items()) if ti.get("state") == "deferred"), None)


def unpause(dep: Deployment, dag_id: str) -> None:
    assert dep.api is not None
    dep.api.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})


def trigger(
    dep: Deployment, dag_id: str, label: str, conf: dict[str, Any], logical_date: str | None = None
) -> RunWatch:
    assert dep.api is not None
    run = dep.api.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": conf})
    log(f"triggered {label}: {dag_id} run {run['dag_run_id']}")
    return RunWatch(dag_id=dag_id, run_id=run["dag_run_id"], label=label)


def wait_dags_parsed(dep: Deployment, dag_ids: list[str], timeout: float = 120) -> None:
    assert dep.api is not None
    deadline = time.monotonic() + timeout
    missing = list(dag_ids)
    while time.monotonic() < deadline:
        dep.stack.check_alive()
        errors = dep.api.get("/importErrors").get("import_errors", [])
        if errors:
            detail = "\n".join(f"{e.get('filename')}: {e.get('stack_trace', '')[-1500:]}" for e in errors)
            raise DeploymentError(f"DAG import errors:\n{detail}")
        missing = [d for d in dag_ids if dep.api.call("GET", f"/dags/{d}", ok=(200, 404)).get("dag_id") != d]
        if not missing:
            return
        time.sleep(1)
    raise DeploymentError(f"DAGs not parsed after {timeout:.0f}s: {missing}")


def wait_runs(
    dep: Deployment,
    watches: list[RunWatch],
    *,
    timeout: float = RUN_TIMEOUT,
    until: Callable[[], bool] | None = None,
    each: Callable[[], None] | None = None,
) -> None:
    """Poll until every run is terminal (or ``until()`` is true); components must stay alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep.stack.check_alive()
        for w in watches:
            if not w.done:
                w.poll(dep)
        if each is not None:
            each()
        if until() if until is not None else all(w.done for w in watches):
            return
        time.sleep(0.5)
    pending = {f"{w.label} ({w.run_id})": w.ti_states() for w in watches if not w.done}
    raise DeploymentError(f"runs not finished after {timeout:.0f}s: {pending}")


def scheduled_run(dep: Deployment, dag_id: str, timeout: float = 60) -> RunWatch:
    """The run the scheduler creates by itself when a scheduled DAG is unpaused."""
    assert dep.api is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in dep.api.paged(f"/dags/{dag_id}/dagRuns", "dag_runs"):
            if run.get("run_type") == "scheduled":
                return RunWatch(dag_id=dag_id, run_id=run["dag_run_id"], label="frequency (scheduled run)")
        time.sleep(1)
    raise DeploymentError(f"the scheduler created no scheduled run of {dag_id} within {timeout:.0f}s")


# --------------------------------------------------------------------------- checks


def task_log_files(dep: Deployment, w: RunWatch, task_id: str) -> list[Path]:
    root = dep.task_logs / f"dag_id={w.dag_id}" / f"run_id={w.run_id}" / f"task_id={task_id}"
    return sorted(p for p in root.rglob("*") if p.is_file())


def check_run(res: Results, w: RunWatch, expected: str, failed_tasks: set[str] = frozenset()) -> None:
    """The run ends as intended: ``failed`` exactly where the example means it to, all else success."""
    res.check(f"{w.label}: run {expected}", w.state == expected, f"state {w.state}")
    wrong = {
        name: state
        for name, state in w.ti_states().items()
        if state != ("failed" if name.split("[")[0].rsplit(".", 1)[-1] in failed_tasks else "success")
    }
    res.check(
        f"{w.label}: {len(w.ti_states())} task instances as intended"
        + (f" (failed only: {', '.join(sorted(failed_tasks))})" if failed_tasks else ""),
        not wrong,
        f"unexpected: {wrong}" if wrong else "",
    )


def check_deferred(res: Results, dep: Deployment, w: RunWatch) -> None:
    """A TI went through ``deferred``, its trigger ran in the triggerer, it resumed on a worker."""
    keys = w.deferred_keys()
    res.check(
        f"{w.label}: a task instance seen in state deferred (REST)",
        bool(keys),
        ", ".join(f"{t}: {w.seen[(t, m)]}" for t, m in keys) or f"states {dict(w.seen)}",
    )
    for task_id, map_index in keys:
        trigger_logs = [p for p in task_log_files(dep, w, task_id) if ".trigger." in p.name]
        res.check(
            f"{w.label}: {task_id} has a trigger log written by the triggerer",
            bool(trigger_logs),
            ", ".join(p.name for p in trigger_logs) or "no *.trigger.*.log in the TI's log folder",
        )
        ti = w.tis.get((task_id, map_index), {})
        res.check(
            f"{w.label}: {task_id} resumed in its first try on a worker",
            ti.get("try_number") == 1
            and ti.get("state") == "success"
            and ti.get("hostname") in dep.worker_names,
            f"try_number={ti.get('try_number')} state={ti.get('state')} hostname={ti.get('hostname')}",
        )


def workloads_by_worker(dep: Deployment) -> dict[str, set[str]]:
    """TI log path -> the Celery workers whose logs say they executed it (two if it resumed)."""
    found: dict[str, set[str]] = defaultdict(set)
    for name in dep.worker_names:
        text = dep.stack[name].log_path.read_text(errors="replace")
        for match in re.finditer(r"Executing workload in Celery: .*? log_path='([^']+)'", text):
            found[match.group(1)].add(name)
    return found


def check_spread(res: Results, dep: Deployment, w: RunWatch) -> None:
    """Mapped TIs ran on both workers: by the TI's hostname (REST) and by each worker's own log."""
    mapped = {(t, m): ti for (t, m), ti in w.tis.items() if m >= 0}
    hosts = Counter(ti.get("hostname") for ti in mapped.values())
    res.check(
        f"{w.label}: mapped task instances ran on both Celery workers (TI hostname)",
        set(hosts) == set(WORKER_NAMES),
        f"{len(mapped)} mapped TIs by hostname: {dict(hosts)}",
    )
    executed = workloads_by_worker(dep)
    mismatched = {}
    for (task_id, map_index), ti in mapped.items():
        path = f"dag_id={w.dag_id}/run_id={w.run_id}/task_id={task_id}/map_index={map_index}/attempt=1.log"
        if ti.get("hostname") not in executed.get(path, set()):
            mismatched[f"{task_id}[{map_index}]"] = (ti.get("hostname"), sorted(executed.get(path, set())))
    res.check(
        f"{w.label}: the worker each TI names as hostname logged executing it",
        not mismatched,
        f"hostname vs worker log: {mismatched}" if mismatched else f"{len(mapped)} TIs matched",
    )


WORKER_NAMES = ("worker1", "worker2")


def check_maintenance_calls(res: Results, reqs: list[dict[str, Any]], label: str, ids: list[str]) -> None:
    bad = {}
    for cid in ids:
        # Compared by "paused": other fields may join the body without mattering here.
        got = [(body or {}).get("paused") for body in patches(reqs, cid)]
        gets = [r for r in calls_for(reqs, cid) if r["method"] == "GET"]
        other = [r["method"] for r in calls_for(reqs, cid) if r["method"] not in ("GET", "PATCH")]
        if got != [True, False] or not gets or other:
            bad[cid] = {"patches": got, "gets": len(gets), "other": other}
    res.check(
        f"{label}: simulator saw exactly PATCH paused=true then paused=false once per connection, plus GETs",
        not bad,
        f"{len(ids)} connections" if not bad else f"unexpected: {bad}",
    )


# --------------------------------------------------------------------------- phases


def dag_param_default(dep: Deployment, dag_id: str, name: str) -> Any:
    assert dep.api is not None
    params = dep.api.get(f"/dags/{dag_id}/details").get("params") or {}
    value = params.get(name)
    return value.get("value") if isinstance(value, dict) else value


def setup_simulator(dep: Deployment) -> Simulator:
    sim = Simulator(dep.sim_url)
    for cid in [*MAINT_OK, *MAINT_FAIL, RESYNC_OK, RESYNC_FAULT, FREQ]:
        sim.add_connection(cid)
    scheduled_id = str(dag_param_default(dep, FREQUENCY, "connection_id"))
    FREQ_SCHEDULED["id"] = scheduled_id
    if scheduled_id in sim.connection_ids():
        sim.remember_seed_secrets(scheduled_id)
    else:
        sim.add_connection(scheduled_id, sync_frequency=1440)
    for cid in sim.connection_ids():
        if cid not in _CONFIG_SECRETS:
            sim.remember_seed_secrets(cid)
    return sim


@dataclass
class FaultInjector:
    """Kills the triggerer during the fault run's deferred wait, then ends the historical syncs.

    Called on every poll. Step 1: once the fault run's task is deferred and its trigger has
    polled twice, SIGKILL the triggerer's process group and start a new triggerer. Step 2: once
    the new triggerer has polled the fault connection twice (the TI still deferred, so no worker
    is involved) and the plain resync's trigger has polled too, move the simulator's clock so
    both historical syncs end. Until then they never end, whatever the machine's speed.
    """

    dep: Deployment
    sim: Simulator
    fault: RunWatch
    resync: RunWatch
    killed_at: float | None = None
    calls_before_kill: int = 0
    calls_at_restart: int = 0
    state_when_polled_again: list[str | None] = field(default_factory=list)
    advanced_at: float | None = None
    fault_key: tuple[str, int] | None = None
    marks: dict[str, int] = field(default_factory=dict)

    def polls_after_restart(self) -> list[dict[str, Any]]:
        calls = calls_for(self.sim.requests(), RESYNC_FAULT)[self.calls_at_restart :]
        return [r for r in calls if r["method"] == "GET"]

    def polled_while_deferred(self, w: RunWatch, connection_id: str) -> int:
        """GETs since the run's TI was first seen deferred: only its trigger sends those."""
        calls = calls_for(self.sim.requests(), connection_id)
        if w.deferred_now() is None and connection_id not in self.marks:
            return 0
        mark = self.marks.setdefault(connection_id, len(calls))
        return sum(1 for r in calls[mark:] if r["method"] == "GET")

    def __call__(self) -> None:
        if self.killed_at is None:
            self.fault_key = self.fault.deferred_now()
            if self.fault_key is not None and self.polled_while_deferred(self.fault, RESYNC_FAULT) >= 2:
                self.calls_before_kill = len(calls_for(self.sim.requests(), RESYNC_FAULT))
                self.killed_at = time.monotonic()
                self.dep.restart("triggerer")
                self.calls_at_restart = len(calls_for(self.sim.requests(), RESYNC_FAULT))
        elif self.advanced_at is None:
            resync_polled = self.polled_while_deferred(self.resync, RESYNC_OK) >= 2
            if resync_polled and len(self.polls_after_restart()) >= 2:
                assert self.fault_key is not None
                self.state_when_polled_again = list(self.fault.seen.get(self.fault_key, []))
                self.advanced_at = time.monotonic()
                log(
                    f"fault run: new triggerer polling; {self.advanced_at - self.killed_at:.1f}s after the "
                    "kill; ending the historical syncs"
                )
                self.sim.advance(HISTORICAL_SYNC_SECONDS)


def run_examples(dep: Deployment, sim: Simulator, res: Results, also: Callable[[], None]) -> None:
    """Every scenario at once, the fault run included: the kill hits every deferred wait in flight.

    ``also`` is called on every poll too (the maintenance-window cases running alongside).
    """
    for dag_id in (*EXAMPLE_DAG_IDS, SMOKE):
        unpause(dep, dag_id)
    watches = [
        trigger(dep, RESYNC, "fault run", {"connection_id": RESYNC_FAULT}),
        trigger(dep, MAINTENANCE, "maintenance", {"connection_ids": MAINT_OK}),
        trigger(
            dep,
            MAINTENANCE,
            "maintenance (failing)",
            {"connection_ids": MAINT_FAIL, "fail_maintenance": True},
        ),
        trigger(dep, RESYNC, "historical resync", {"connection_id": RESYNC_OK}),
        *[
            trigger(dep, FREQUENCY, f"frequency @{when}", {"connection_id": FREQ}, logical_date=when)
            for when in FREQ_RUNS
        ],
        trigger(dep, SMOKE, "smoke", {"wait_seconds": 15}),
    ]
    watches.append(scheduled_run(dep, FREQUENCY))
    by = {w.label: w for w in watches}
    resync = by["historical resync"]
    injector = FaultInjector(dep, sim, by["fault run"], resync)

    def each() -> None:
        injector()
        also()

    wait_runs(dep, watches, each=each)
    reqs = [r for r in sim.requests() if not window_scenarios.owns(r["path"])]

    maint, maint_fail = by["maintenance"], by["maintenance (failing)"]
    check_run(res, maint, "success")
    check_spread(res, dep, maint)
    check_maintenance_calls(res, reqs, "maintenance", MAINT_OK)
    check_run(res, maint_fail, "failed", {MAINTENANCE_WORK_TASK})
    check_maintenance_calls(res, reqs, "maintenance (failing)", MAINT_FAIL)
    unpaused = {cid: sim.connection(cid).get("paused") for cid in MAINT_OK + MAINT_FAIL}
    res.check(
        "maintenance: every connection is unpaused at the end (teardowns ran, also after the failure)",
        not any(unpaused.values()),
        f"paused: {unpaused}",
    )

    check_run(res, resync, "success")
    check_deferred(res, dep, resync)
    got = patches(reqs, RESYNC_OK)
    gets = [r for r in calls_for(reqs, RESYNC_OK) if r["method"] == "GET"]
    res.check(
        "historical resync: simulator saw one PATCH is_historical_sync=true, then GETs until done",
        got == [{"is_historical_sync": True, "run_setup_tests": False}] and len(gets) >= 2,
        f"PATCH bodies {got}, {len(gets)} GETs",
    )
    final = sim.connection(RESYNC_OK)
    status = final.get("status", {})
    res.check(
        "historical resync: connection back to connected/scheduled when the wait ended",
        status.get("setup_state") == "connected" and status.get("sync_state") == "scheduled",
        f"setup_state={status.get('setup_state')} sync_state={status.get('sync_state')}",
    )

    freq_runs = [w for w in watches if w.label.startswith("frequency @")]
    for w in freq_runs:
        check_run(res, w, "success")
    got_freq = sorted(json.dumps(p, sort_keys=True) for p in patches(reqs, FREQ))
    want_freq = sorted(
        json.dumps({"sync_frequency": v, "run_setup_tests": False}, sort_keys=True)
        for v in FREQ_RUNS.values()
    )
    res.check(
        "frequency: one PATCH per run, 60 for a 08:00 and 360 for a 20:00 logical date",
        got_freq == want_freq,
        f"PATCH bodies {got_freq}",
    )
    sched = by["frequency (scheduled run)"]
    check_run(res, sched, "success")
    hour = int((sched.logical_date or "T00")[11:13])
    want = 60 if 7 <= hour < 19 else 360
    got_sched = patches(reqs, FREQ_SCHEDULED["id"])
    res.check(
        f"frequency (scheduled run): one PATCH sync_frequency={want} to the default connection "
        f"{FREQ_SCHEDULED['id']} for logical date {sched.logical_date}",
        got_sched == [{"sync_frequency": want, "run_setup_tests": False}],
        f"PATCH bodies {got_sched}",
    )

    smoke = by["smoke"]
    check_run(res, smoke, "success")
    check_deferred(res, dep, smoke)

    not_ok = [
        f"{r['method']} {r['path']} -> {r['status']}" for r in reqs if not 200 <= (r["status"] or 0) < 300
    ]
    known = {
        f"/v1/connections/{c}"
        for c in [*MAINT_OK, *MAINT_FAIL, RESYNC_OK, RESYNC_FAULT, FREQ, FREQ_SCHEDULED["id"]]
    }
    stray = sorted({f"{r['method']} {r['path']}" for r in reqs if r["path"] not in known})
    res.check(
        f"simulator: all {len(reqs)} API requests answered 2xx, none to another path",
        not not_ok and not stray,
        f"non-2xx {not_ok[:10]}; stray {stray[:10]}" if not_ok or stray else "",
    )
    per_worker = Counter(ti.get("hostname") for w in watches for ti in w.tis.values() if ti.get("hostname"))
    log(f"task instances per worker (all runs): {dict(per_worker)}")
    check_fault_run(res, dep, sim, injector)


def check_fault_run(res: Results, dep: Deployment, sim: Simulator, injector: FaultInjector) -> None:
    w = injector.fault
    key = injector.fault_key
    if key is None or injector.killed_at is None or injector.advanced_at is None:
        res.check(
            "fault run: triggerer killed and restarted during the deferred wait", False, "never happened"
        )
        return
    assert w.finished_at is not None
    log(
        f"fault run: {injector.calls_before_kill} calls before the kill; run finished "
        f"{w.finished_at - injector.killed_at:.1f}s after the kill"
    )
    check_run(res, w, "success")
    states = w.seen.get(key, [])
    ti = w.tis.get(key, {})
    res.check(
        "fault run: the wait stayed deferred across the kill and then completed, in its first try",
        injector.state_when_polled_again[-1:] == ["deferred"]
        and states.count("deferred") == 1
        and ti.get("try_number") == 1
        and ti.get("state") == "success",
        f"states {states}, try_number={ti.get('try_number')}",
    )
    calls = calls_for(sim.requests(), RESYNC_FAULT)
    got = [r["json"] for r in calls if r["method"] == "PATCH"]
    res.check(
        "fault run: exactly one PATCH sent (no duplicate after the restart)",
        got == [{"is_historical_sync": True, "run_setup_tests": False}],
        f"PATCH bodies {got}",
    )
    polls_after = [r for r in calls[injector.calls_at_restart :] if r["method"] == "GET"]
    res.check(
        "fault run: the restarted triggerer polled the connection (GETs while the TI stayed deferred)",
        len(polls_after) >= 2,
        f"{len(polls_after)} GETs after the restart, {injector.calls_before_kill} calls before the kill",
    )
    trigger_logs = [p for p in task_log_files(dep, w, key[0]) if ".trigger." in p.name]
    texts = [p.read_text(errors="replace") for p in trigger_logs]
    res.check(
        "fault run: the same trigger ran in two triggerer jobs (one trigger log per job), the second fired",
        len(trigger_logs) == 2
        and all(" starting" in t for t in texts)
        and any("Trigger fired event" in t for t in texts),
        ", ".join(p.name for p in trigger_logs),
    )


def run_all(dep: Deployment) -> Results:
    res = Results()
    t = time.monotonic()
    wait_dags_parsed(dep, [*EXAMPLE_DAG_IDS, SMOKE, *window_scenarios.DAG_IDS])
    dep.timings["DAGs parsed"] = time.monotonic() - t
    sim = setup_simulator(dep)
    window_scenarios.seed(sim)
    t = time.monotonic()
    window = window_scenarios.start_concurrent(dep, sim)
    run_examples(dep, sim, res, also=window)
    dep.timings["all DAG runs, fault run included"] = time.monotonic() - t
    t = time.monotonic()
    window_scenarios.check_concurrent(res, dep, window)
    window_scenarios.run_worker_kill(res, dep, sim)
    dep.timings["maintenance-window faults after the examples"] = time.monotonic() - t
    files, leaks = dep.scan_for_secrets()
    res.check(f"no secret in any of {files} Airflow log files on disk", not leaks, "; ".join(leaks[:10]))
    return res
