"""Benchmark 1, DAG-parse cost: what importing a provider's operator and sensor adds to a DAG file.

Each measurement is a fresh interpreter that first imports what any DAG file imports from the Task
SDK (``from airflow.sdk import DAG, BaseOperator, BaseSensorOperator, BaseHook, BaseOperatorLink``),
then, timed on its own, the provider's operator and sensor modules. The figures are medians over
fresh processes (bytecode caches warmed by one untimed run first) of the wall time and of the CPU
time of those imports (CPU time is what a busy machine does not stretch). One more run under
``python -X importtime`` says where the time goes, summed per top-level package.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from benchlib import Side, child_env, median, spread

SDK_IMPORT = "from airflow.sdk import DAG, BaseOperator, BaseSensorOperator, BaseHook, BaseOperatorLink"
MARK = "@@provider-imports-start@@"

_PROBE = """
import importlib, json, sys, time
t0 = time.perf_counter()
{sdk_import}
t1, c1 = time.perf_counter(), time.process_time()
before = set(sys.modules)
sys.stderr.write({mark!r} + "\\n"); sys.stderr.flush()
for name in {modules!r}:
    importlib.import_module(name)
t2, c2 = time.perf_counter(), time.process_time()
new = sorted(set(sys.modules) - before)
print(json.dumps({{"sdk_s": t1 - t0, "provider_s": t2 - t1, "provider_cpu_s": c2 - c1,
                  "new_modules": len(new),
                  "new_packages": sorted({{m.split(".")[0] for m in new}})}}))
"""


def _probe(python: str, modules: Sequence[str], env: Mapping[str, str], importtime: bool) -> tuple[dict, str]:
    code = _PROBE.format(sdk_import=SDK_IMPORT, mark=MARK, modules=list(modules))
    command = [python, *(["-X", "importtime"] if importtime else []), "-c", code]
    proc = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"import probe failed ({python}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _importtime_by_package(stderr: str) -> dict[str, float]:
    """Self time (ms) of every module imported after the marker, summed per top-level package."""
    per_package: dict[str, float] = defaultdict(float)
    started = False
    for line in stderr.splitlines():
        if line.strip() == MARK:
            started = True
            continue
        if not started or not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|", 2)
        try:
            per_package[name.strip().split(".")[0]] += int(self_us) / 1000.0
        except ValueError:
            continue
    return dict(per_package)


def measure_import_cost(
    side: Side, modules: Sequence[str], *, runs: int = 7, warmup: bool = True
) -> dict[str, Any]:
    """Median wall and CPU time (ms) that ``modules`` add over the bare SDK imports, in fresh processes.

    CPU time is the figure to trust on a busy machine: other processes stretch wall time, not CPU.
    """
    env = child_env()
    if warmup:
        _probe(side.python, modules, env, importtime=False)  # compile bytecode, create airflow.cfg
    samples = [_probe(side.python, modules, env, importtime=False)[0] for _ in range(runs)]
    detail, stderr = _probe(side.python, modules, env, importtime=True)
    by_package = _importtime_by_package(stderr)
    provider_ms = [sample["provider_s"] * 1000 for sample in samples]
    provider_cpu_ms = [sample["provider_cpu_s"] * 1000 for sample in samples]
    sdk_ms = [sample["sdk_s"] * 1000 for sample in samples]
    top = sorted(by_package.items(), key=lambda item: -item[1])[:5]
    return {
        "side": side.name,
        "modules": list(modules),
        "runs": runs,
        "provider_ms": median(provider_ms),
        "provider_ms_spread": spread(provider_ms),
        "provider_ms_samples": provider_ms,
        "provider_cpu_ms": median(provider_cpu_ms),
        "provider_cpu_ms_spread": spread(provider_cpu_ms),
        "sdk_ms": median(sdk_ms),
        "new_modules": detail["new_modules"],
        "new_packages": detail["new_packages"],
        "importtime_top_ms": {name: round(ms, 1) for name, ms in top},
    }
