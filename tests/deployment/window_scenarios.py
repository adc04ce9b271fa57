"""Maintenance-window faults on the real deployment: the promise is that connections run again.

* ``dagrun_timeout`` during the work: the scheduler skips every unfinished task, ``restore``
  included, and fails the run; the window's DAG-run failure callback (run by the DAG processor)
  resumes the connections. The time from the run failing to both running again is measured and
  held to ``TIMEOUT_RECOVERY_BOUND``.
* A person marks a run failed during the work (REST API): Airflow leaves teardowns to run, so
  ``restore`` resumes the connection.
* The restore fails (Fivetran refuses the resume): the run fails; the failure callback tries
  again and is refused too; the recovery command lists the stranded connection and resumes it.
* While a pause PATCH that took effect waits for its answer (the simulator holds it back), the
  scheduler is SIGKILLed and restarted, then the Celery worker running the pause is SIGKILLed:
  the new scheduler fails the dead task once its heartbeat times out, and ``restore`` resumes the
  connection.

The first three run alongside the example DAGs; the kill runs alone afterwards, so it hits no
other run's tasks.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import scenarios  # scenarios imports this module too: names are looked up when called
from harness import DeploymentError, http_json, log

if TYPE_CHECKING:
    from run_deployment import Deployment
    from scenarios import Results, RunWatch, Simulator

TIMEOUT_DAG = "deploy_window_timeout"
MARKED_DAG = "deploy_window_marked_failed"
REFUSED_DAG = "deploy_window_restore_fails"
KILLED_DAG = "deploy_window_worker_killed"
DAG_IDS = (TIMEOUT_DAG, MARKED_DAG, REFUSED_DAG, KILLED_DAG)

TIMEOUT_IDS = ["deploy_window_timeout_a", "deploy_window_timeout_b"]
MARKED_ID = "deploy_window_marked"
REFUSED_ID = "deploy_window_refused"
KILLED_ID = "deploy_window_killed"
CONNECTION_IDS = [*TIMEOUT_IDS, MARKED_ID, REFUSED_ID, KILLED_ID]

# From the scheduler failing the timed-out run to both connections running again: the DAG
# processor picks the callback up, parses the DAG file and sends two PATCHes.
TIMEOUT_RECOVERY_BOUND = 60.0


def owns(path: str) -> bool:
    """Whether a simulator request path is one of these scenarios' connections."""
    return any(path == f"/v1/connections/{cid}" for cid in CONNECTION_IDS)


def seed(sim: Simulator) -> None:
    for cid in CONNECTION_IDS:
        sim.add_connection(cid)
        sim.remember_seed_secrets(cid)


def paused_flags(sim: Simulator, connection_id: str) -> list[Any]:
    """The ``paused`` value of each PATCH body (other fields may join it; they do not matter)."""
    return [
        (r["json"] or {}).get("paused")
        for r in scenarios.calls_for(sim.requests(), connection_id)
        if r["method"] == "PATCH"
    ]


def ti_state(dep: Deployment, w: RunWatch, task_id: str, map_index: int = -1) -> dict[str, Any]:
    assert dep.api is not None
    suffix = f"/{map_index}" if map_index >= 0 else ""
    path = f"/dags/{w.dag_id}/dagRuns/{w.run_id}/taskInstances/{task_id}{suffix}"
    return dict(dep.api.call("GET", path, ok=(200, 404)) or {})  # 404: not created yet


def wait(dep: Deployment, what: str, predicate: Any, timeout: float) -> float:
    """Poll ``predicate`` (components must stay alive); return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        dep.stack.check_alive()
        if predicate():
            return time.monotonic() - started
        time.sleep(0.5)
    raise DeploymentError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Concurrent:
    """The three cases that run alongside the example DAGs."""

    dep: Deployment
    sim: Simulator
    timeout: RunWatch
    marked: RunWatch
    refused: RunWatch
    marked_at: float | None = None
    timeout_failed_at: float | None = None
    timeout_running_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> None:
        """Called on every poll of the example runs: mark the run failed once its work runs."""
        if self.marked_at is None and not self.marked.done:
            work = ti_state(self.dep, self.marked, "fivetran_maintenance.long_work")
            if work.get("state") == "running":
                assert self.dep.api is not None
                self.dep.api.call(
                    "PATCH", f"/dags/{MARKED_DAG}/dagRuns/{self.marked.run_id}", {"state": "failed"}
                )
                self.marked_at = time.monotonic()
                log("window: marked the run failed while its work ran")
        if self.timeout_failed_at is None:
            self.timeout.poll(self.dep)
            if self.timeout.state == "failed":
                self.timeout_failed_at = time.monotonic()
        if (
            self.timeout_failed_at is not None
            and self.timeout_running_at is None
            and all(self.sim.connection(cid).get("paused") is False for cid in TIMEOUT_IDS)
        ):
            self.timeout_running_at = time.monotonic()


def start_concurrent(dep: Deployment, sim: Simulator) -> Concurrent:
    for dag_id in DAG_IDS:
        scenarios.unpause(dep, dag_id)
    return Concurrent(
        dep,
        sim,
        timeout=scenarios.trigger(dep, TIMEOUT_DAG, "window dagrun_timeout", {}),
        marked=scenarios.trigger(dep, MARKED_DAG, "window marked failed", {}),
        refused=scenarios.trigger(dep, REFUSED_DAG, "window restore refused", {}),
    )


def check_concurrent(res: Results, dep: Deployment, c: Concurrent) -> None:
    scenarios.wait_runs(dep, [c.timeout, c.marked, c.refused], each=c)
    if c.timeout_running_at is None:
        wait(dep, "the timed-out run's connections to run again", lambda: c() or c.timeout_running_at, 120)
    check_timeout(res, dep, c)
    check_marked(res, dep, c)
    check_refused(res, dep, c)


def check_timeout(res: Results, dep: Deployment, c: Concurrent) -> None:
    w = c.timeout
    res.check(f"{w.label}: run failed (dagrun_timeout)", w.state == "failed", f"state {w.state}")
    # Skipped before it was expanded: one unmapped row.
    restores = sorted({str(ti.get("state")) for (t, _), ti in w.tis.items() if t.endswith(".restore")})
    res.check(
        f"{w.label}: the scheduler skipped the restore (no teardown runs after a timeout)",
        restores == ["skipped"],
        f"restore states {restores}",
    )
    assert c.timeout_failed_at is not None and c.timeout_running_at is not None
    took = c.timeout_running_at - c.timeout_failed_at
    c.notes["timeout recovery"] = took
    log(f"window: dagrun_timeout -> both connections running again {took:.1f}s after the run failed")
    res.check(
        f"{w.label}: connections running again {took:.1f}s after the run failed "
        f"(bound {TIMEOUT_RECOVERY_BOUND:.0f}s), resumed by the run's failure callback",
        took <= TIMEOUT_RECOVERY_BOUND,
        "",
    )
    flags = {cid: paused_flags(c.sim, cid) for cid in TIMEOUT_IDS}
    res.check(
        f"{w.label}: one pause and one resume PATCH per connection",
        all(f == [True, False] for f in flags.values()),
        f"{flags}",
    )
    # The DAG processor logs a callback in its own log or in the DAG file's processing log.
    texts = [dep.stack["dag-processor"].log_path.read_text(errors="replace")]
    texts += [
        p.read_text(errors="replace")
        for p in dep.task_logs.rglob("*")
        if p.is_file() and "dag_processor" in str(p)
    ]
    res.check(
        f"{w.label}: the DAG processor's logs name each resume by the failure callback",
        all(any(f"resumed Fivetran connection '{cid}'" in t for t in texts) for cid in TIMEOUT_IDS),
        "",
    )


def check_marked(res: Results, dep: Deployment, c: Concurrent) -> None:
    w = c.marked
    res.check(f"{w.label}: marked failed while the work ran", c.marked_at is not None, "")
    res.check(f"{w.label}: run failed", w.state == "failed", f"state {w.state}")
    restore = ti_state(dep, w, "fivetran_maintenance.restore", 0).get("state")
    res.check(
        f"{w.label}: the restore ran (Airflow leaves teardowns to finish)", restore == "success", restore
    )
    flags = paused_flags(c.sim, MARKED_ID)
    res.check(
        f"{w.label}: connection running again, one pause and one resume PATCH",
        c.sim.connection(MARKED_ID).get("paused") is False and flags == [True, False],
        f"PATCH paused flags {flags}",
    )


def recovery_command(dep: Deployment, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_fivetran_update.maintenance", *args],
        env=dep.env,
        cwd=dep.base,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    (dep.component_logs / "recovery-command.log").open("a").write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise DeploymentError(
            f"recovery command {args} failed ({result.returncode}):\n{result.stderr[-2000:]}"
        )
    return result.stdout


def check_refused(res: Results, dep: Deployment, c: Concurrent) -> None:
    w = c.refused
    states = {
        name: ti_state(dep, w, f"fivetran_maintenance.{name}", index).get("state")
        for name, index in (("refuse_the_next_resumes", -1), ("restore", 0), ("restored", -1))
    }
    res.check(
        f"{w.label}: run failed because its restore failed (the work succeeded)",
        w.state == "failed"
        and states
        == {"refuse_the_next_resumes": "success", "restore": "failed", "restored": "upstream_failed"},
        f"run {w.state}, {states}",
    )
    # The failure callback runs in the DAG processor, after the run failed: wait for its try.
    wait(dep, "the failure callback's resume", lambda: len(paused_flags(c.sim, REFUSED_ID)) >= 3, 90)
    res.check(
        f"{w.label}: restore refused, then the failure callback's resume refused: still paused",
        paused_flags(c.sim, REFUSED_ID) == [True, False, False]
        and c.sim.connection(REFUSED_ID).get("paused") is True,
        f"PATCH paused flags {paused_flags(c.sim, REFUSED_ID)}",
    )
    # Without --apply it lists what it holds and only says what it would do.
    dry = recovery_command(dep, "--resume-stranded")
    res.check(
        "recovery command: --resume-stranded lists the stranded connection and its run, sends nothing",
        f"{REFUSED_ID}: STRANDED" in dry
        and w.run_id in dry
        and "Dry run: would resume 1 connection(s)" in dry
        and len(paused_flags(c.sim, REFUSED_ID)) == 3,
        dry.strip()[-300:],
    )
    applied = recovery_command(dep, "--resume-stranded", "--apply")
    res.check(
        "recovery command: --resume-stranded --apply resumes it with one PATCH",
        f"{REFUSED_ID}: resumed" in applied
        and paused_flags(c.sim, REFUSED_ID) == [True, False, False, False]
        and c.sim.connection(REFUSED_ID).get("paused") is False,
        applied.strip()[-300:],
    )


def scheduler_heartbeat(dep: Deployment) -> float:
    """The scheduler's latest heartbeat (epoch seconds), from the API server's health endpoint."""
    assert dep.api is not None
    _, body = http_json("GET", f"{dep.api.base_url}/api/v2/monitor/health", timeout=5)
    scheduler = (body.get("scheduler") if isinstance(body, dict) else None) or {}
    beat = scheduler.get("latest_scheduler_heartbeat")
    return datetime.fromisoformat(beat).timestamp() if beat else 0.0


def run_worker_kill(res: Results, dep: Deployment, sim: Simulator) -> None:
    """Restart the scheduler, then SIGKILL the worker running the pause, after its PATCH took effect."""
    status, body = http_json(
        "POST",
        f"{sim.url}/__admin/faults",
        body={
            "n": 1,
            "after_apply": True,
            "delay": 180,
            "method": "PATCH",
            "path": f"/v1/connections/{KILLED_ID}",
        },
    )
    if status != 200:
        raise DeploymentError(f"arming the simulator fault answered {status}: {body!r}")
    w = scenarios.trigger(dep, KILLED_DAG, "window worker killed", {})
    wait(dep, "the pause PATCH to take effect", lambda: sim.connection(KILLED_ID).get("paused") is True, 120)
    pause = ti_state(dep, w, "fivetran_maintenance.pause", 0)
    worker = pause.get("hostname")
    if worker not in dep.worker_names:
        raise DeploymentError(f"the pause task runs on {worker!r}, not on a known worker: {pause}")
    # The scheduler first (its answer still held back, the pause task waits): the new one must
    # carry the window on. Then the worker, right after its PATCH took effect.
    restarted = time.time()
    dep.restart("scheduler", sig=signal.SIGKILL)
    wait(dep, "the restarted scheduler to heartbeat", lambda: scheduler_heartbeat(dep) > restarted, 90)
    time.sleep(5)  # past its start-up adoption of the running tasks
    started = time.monotonic()
    dep.restart(worker, sig=signal.SIGKILL)
    scenarios.wait_runs(dep, [w])
    took = time.monotonic() - started
    log(f"window: worker killed after the pause PATCH; run over and connection resumed {took:.1f}s later")
    res.check(f"{w.label}: run failed (its pause task died)", w.state == "failed", f"state {w.state}")
    states = {
        name: ti_state(dep, w, f"fivetran_maintenance.{name}", index).get("state")
        for name, index in (("pause", 0), ("restore", 0))
    }
    res.check(
        f"{w.label}: the dead pause failed (heartbeat timeout), the restore succeeded",
        states == {"pause": "failed", "restore": "success"},
        f"{states}",
    )
    flags = paused_flags(sim, KILLED_ID)
    # The held pause is logged once its client is gone; a task process that outlived its killed
    # worker may still be waiting for that answer, so it may not be logged yet.
    res.check(
        f"{w.label}: connection running again after one resume PATCH (the pause had taken effect)",
        sim.connection(KILLED_ID).get("paused") is False and flags in ([True, False], [False]),
        f"PATCH paused flags {flags}",
    )
