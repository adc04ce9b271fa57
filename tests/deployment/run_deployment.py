"""Deployment test: the provider on a real Airflow 3 deployment, checked from the outside.

Starts on 127.0.0.1, under one temporary directory: PostgreSQL, Redis, the Fivetran simulator,
``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and two ``celery worker``
processes. Then it triggers DAG runs through the REST API and checks what a production deployment
would show: run and task states, deferral through the triggerer process, mapped tasks spread over
both workers, the simulator's request log, and no secret in any log file. A fault run kills the
triggerer during a deferred wait and starts it again.

Run it with ``make test-deployment`` (it needs the ``.venv-deploy`` interpreter, which has the
Celery and Postgres providers). Not collected by pytest: see ``conftest.py`` here.

Environment knobs: ``DEPLOY_KEEP=1`` keeps the temporary directory (it is always kept, and its
path printed, when a check fails); ``DEPLOY_TIMEOUT`` caps one DAG run's wait (seconds).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scenarios  # noqa: E402
from harness import (  # noqa: E402
    LOOPBACK,
    AirflowAPI,
    Component,
    DeploymentError,
    Stack,
    free_port,
    http_json,
    log,
    postgres_ready,
    prepare_postgres,
    prepare_redis,
    psql,
    random_secret,
    redis_ready,
    tail,
    wait_for,
)

REPO_ROOT = HERE.parent.parent
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
OWN_DAGS = HERE / "dags"
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
WORKERS = ("worker1", "worker2")

HOSTNAME_MODULE = '''\
"""Written by the deployment test: each Celery worker reports its own name as TI hostname."""
import os
import socket


def worker_hostname() -> str:
    return os.environ.get("DEPLOY_WORKER_NAME") or socket.getfqdn()
'''


class Deployment:
    """All the state of one deployment-test run."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "airflow-home"
        self.dags = self.home / "dags"
        self.task_logs = self.home / "logs"
        self.component_logs = base / "components"
        self.stack = Stack()
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.api_port = free_port()
        self.sim_port = free_port()
        self.trigger_log_port = free_port()
        self.db_user = "airflow"
        self.db_password = random_secret("pg")
        self.admin_password = random_secret("admin")
        # Distinctive values, so a leak into any log file is unambiguous.
        self.api_key = random_secret("deploykey")
        self.api_secret = random_secret("deploysecret")
        self.api: AirflowAPI | None = None
        self.sim_url = f"http://{LOOPBACK}:{self.sim_port}"
        self.worker_names = WORKERS
        self.timings: dict[str, float] = {}
        self.env: dict[str, str] = {}
        self.airflow_started = 0.0

    # ------------------------------------------------------------------ infrastructure

    def start_databases(self) -> None:
        pg = self.stack.add(
            prepare_postgres(self.base, port=self.pg_port, db_user=self.db_user, db_password=self.db_password)
        )
        redis = self.stack.add(prepare_redis(self.base, port=self.redis_port))
        pg.log_path = self.component_logs / "postgres.log"
        redis.log_path = self.component_logs / "redis.log"
        pg.start()
        redis.start()
        wait_for(
            "PostgreSQL to accept connections",
            lambda: postgres_ready(self.pg_port),
            timeout=60,
            alive=pg.check_alive,
        )
        psql(self.base, self.pg_port, self.db_user, "CREATE DATABASE airflow")
        wait_for(
            "Redis to answer PING", lambda: redis_ready(self.redis_port), timeout=30, alive=redis.check_alive
        )

    def build_env(self) -> None:
        self.dags.mkdir(parents=True)
        self.task_logs.mkdir(parents=True)
        copied = []
        for src_dir in (EXAMPLE_DAGS, OWN_DAGS):
            for src in sorted(src_dir.glob("*.py")):
                if src.name.startswith("_") and src.name != "__init__.py":
                    continue
                shutil.copy2(src, self.dags / src.name)
                copied.append(src.name)
        log(f"DAG files: {', '.join(copied) or '(none)'}")
        pyextra = self.base / "pyextra"
        pyextra.mkdir()
        (pyextra / "deploy_hostname.py").write_text(HOSTNAME_MODULE)
        passwords = self.home / "simple_auth_manager_passwords.json"
        passwords.write_text(f'{{"admin": "{self.admin_password}"}}\n')

        pg_url = f"postgresql+psycopg2://{self.db_user}:{self.db_password}@{LOOPBACK}:{self.pg_port}/airflow"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
        env.update(
            {
                "PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                "PYTHONPATH": str(pyextra),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{self.api_port}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "deploy_hostname.worker_hostname",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{LOOPBACK}:{self.redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{self.db_user}:{self.db_password}"
                f"@{LOOPBACK}:{self.pg_port}/airflow",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                "AIRFLOW__API__HOST": LOOPBACK,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": f"http://{LOOPBACK}:{self.api_port}",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # Short intervals: a 2-core machine should finish the whole test in minutes.
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "False",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                # A task whose worker was killed is failed after 20 s without a heartbeat (the
                # supervisor sends one every few seconds), so the window's restore follows soon.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                # A restarted scheduler adopts the tasks of the one it replaces once that one has
                # missed its heartbeats for 10 s, checking every 5 s (defaults: 30 s and 300 s).
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "5",
                # A killed triggerer's triggers go to a live one after this many seconds.
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
                # As recommended for production (docs/deployment.md): sensors wait in the triggerer.
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            }
        )
        self.env = env

    def start_simulator(self) -> None:
        """Start the simulator CLI; ``wait_simulator`` checks it once the migration is under way."""
        self.stack.add(
            Component(
                name="simulator",
                argv=[
                    sys.executable,
                    "-m",
                    "airflow_provider_fivetran_update.testing",
                    *scenarios.simulator_args(self.sim_port, self.api_key, self.api_secret),
                ],
                log_path=self.component_logs / "simulator.log",
                env=self.env,
                cwd=self.base,
            )
        ).start()

    def wait_simulator(self) -> None:
        sim = self.stack["simulator"]
        wait_for(
            "the Fivetran simulator's /__admin/health",
            lambda: http_json("GET", f"{self.sim_url}/__admin/health", timeout=3, attempts=1)[0] == 200,
            timeout=60,
            alive=sim.check_alive,
        )

    def migrate(self) -> None:
        started = time.monotonic()
        result = subprocess.run(
            [AIRFLOW, "db", "migrate"],
            env=self.env,
            cwd=self.base,
            capture_output=True,
            text=True,
            check=False,
        )
        (self.component_logs / "db-migrate.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise DeploymentError(
                f"airflow db migrate failed ({result.returncode}):\n"
                + "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            )
        self.timings["db migrate"] = time.monotonic() - started

    def airflow_component(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> Component:
        env = dict(self.env)
        env.update(extra_env or {})
        return self.stack.add(
            Component(
                name=name,
                argv=[AIRFLOW, *args],
                log_path=self.component_logs / f"{name}.log",
                env=env,
                cwd=self.base,
                stop_timeout=20,
            )
        )

    def start_airflow(self) -> None:
        self.airflow_component("api-server", "api-server", "--host", LOOPBACK, "--port", str(self.api_port))
        self.airflow_component("scheduler", "scheduler")
        self.airflow_component("dag-processor", "dag-processor")
        self.airflow_component("triggerer", "triggerer")
        for name in WORKERS:
            self.airflow_component(
                name,
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                extra_env={
                    "DEPLOY_WORKER_NAME": name,
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                },
            )
        self.airflow_started = time.monotonic()
        for name in ("api-server", "scheduler", "dag-processor", "triggerer", *WORKERS):
            self.stack[name].start()
        self.api = AirflowAPI(f"http://{LOOPBACK}:{self.api_port}", "admin", self.admin_password)

    def wait_healthy(self) -> None:
        airflow_names = ("api-server", "scheduler", "dag-processor", "triggerer", *WORKERS)
        alive = lambda: self.stack.check_alive(*airflow_names)  # noqa: E731
        base = f"http://{LOOPBACK}:{self.api_port}"
        wait_for(
            "the API server to answer /api/v2/monitor/health",
            lambda: http_json("GET", f"{base}/api/v2/monitor/health", timeout=3)[0] == 200,
            timeout=120,
            alive=alive,
        )

        def component_status(key: str) -> bool:
            _, body = http_json("GET", f"{base}/api/v2/monitor/health", timeout=3)
            return isinstance(body, dict) and (body.get(key) or {}).get("status") == "healthy"

        for key, proc in (
            ("metadatabase", "api-server"),
            ("scheduler", "scheduler"),
            ("dag_processor", "dag-processor"),
            ("triggerer", "triggerer"),
        ):
            try:
                wait_for(
                    f"{key} to report healthy", lambda k=key: component_status(k), timeout=120, alive=alive
                )
                log(f"{proc} healthy after {time.monotonic() - self.airflow_started:.1f}s")
            except DeploymentError as exc:
                comp = self.stack[proc]
                raise DeploymentError(
                    f"{exc}\nlast lines of {comp.log_path}:\n{tail(comp.log_path)}"
                ) from None
        for name in WORKERS:
            comp = self.stack[name]
            try:
                wait_for(
                    f"celery {name} to log 'ready'",
                    lambda c=comp: (
                        f"{c.name}@" in c.log_path.read_text(errors="replace")
                        and " ready." in c.log_path.read_text(errors="replace")
                    ),
                    timeout=120,
                    alive=alive,
                )
                log(f"{name} ready after {time.monotonic() - self.airflow_started:.1f}s")
            except DeploymentError as exc:
                raise DeploymentError(
                    f"{exc}\nlast lines of {comp.log_path}:\n{tail(comp.log_path)}"
                ) from None
        assert self.api is not None
        self.api.token()

    def create_fivetran_connection(self) -> None:
        """Store ``fivetran_default`` in the metadata DB through the REST API, as an operator would.

        Workers and the triggerer then read it through the API server's execution API, not
        from their environment: the path a real deployment takes.
        """
        assert self.api is not None
        self.api.call(
            "POST",
            "/connections",
            scenarios.connection_body(self.sim_url, self.api_key, self.api_secret),
            ok=(200, 201),
        )

    def restart(self, name: str, *, sig: int = signal.SIGKILL) -> None:
        comp = self.stack[name]
        log(f"killing {name} with signal {sig} (process group)")
        comp.stop(sig=sig, timeout=10)
        comp.start()

    # ------------------------------------------------------------------ log scanning

    def secret_values(self) -> list[str]:
        return [
            self.api_key,
            self.api_secret,
            self.db_password,
            self.admin_password,
            *scenarios.seed_secrets(),
        ]

    def scan_for_secrets(self) -> tuple[int, list[str]]:
        """Every task/trigger log file and every component log: return (files scanned, leaks)."""
        leaks = []
        files = [p for p in self.task_logs.rglob("*") if p.is_file()]
        # The simulator's own stdout is left out: its CLI prints the connection URI on purpose.
        files += [p for p in self.component_logs.glob("*.log") if p.name != "simulator.log"]
        for path in files:
            text = path.read_text(errors="replace")
            for value in self.secret_values():
                if value and value in text:
                    kind = "task log" if self.task_logs in path.parents else "component log"
                    leaks.append(f"{kind} {path.relative_to(self.base)} contains a secret ({value[:6]}…)")
        return len(files), leaks


def main() -> int:
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="fivetran-deploy-"))
    base.chmod(0o711)  # the postgres OS user must traverse into its data dir
    dep = Deployment(base)
    dep.stack.install_handlers()
    keep = os.environ.get("DEPLOY_KEEP") == "1"
    ok = False
    try:
        log(f"working directory {base}")
        t = time.monotonic()
        dep.start_databases()
        dep.timings["postgres+redis"] = time.monotonic() - t
        dep.build_env()
        dep.start_simulator()
        dep.migrate()
        dep.wait_simulator()
        log(f"metadata DB migrated on PostgreSQL in {dep.timings['db migrate']:.1f}s")
        t = time.monotonic()
        dep.start_airflow()
        dep.wait_healthy()
        dep.timings["airflow components healthy"] = time.monotonic() - t
        log(f"all components healthy in {dep.timings['airflow components healthy']:.1f}s")
        dep.create_fivetran_connection()
        results = scenarios.run_all(dep)
        ok = results.report()
    except DeploymentError as exc:
        log(f"FAILED: {exc}")
    except Exception:
        log("FAILED with an unexpected error:\n" + traceback.format_exc())
    finally:
        t = time.monotonic()
        dep.stack.stop_all()
        log(f"all processes stopped in {time.monotonic() - t:.1f}s")
        if ok and not keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            log(f"kept {base} (component logs in {dep.component_logs}, task logs in {dep.task_logs})")
    for what, secs in dep.timings.items():
        log(f"timing: {what}: {secs:.1f}s")
    log(f"{'PASSED' if ok else 'FAILED'} in {time.monotonic() - started:.1f}s wall time")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
