#!/usr/bin/env bash
# The package as a user gets it: build the sdist and the wheel from a clean copy of the tracked
# files, check what they carry, then install the wheel into fresh venvs (one per Airflow release
# given) and run the demo (every example DAG under `airflow dags test`) from outside the checkout.
# Usage: tests/package/check_package.sh UV AIRFLOW_VERSION...
set -euo pipefail
uv=$1; shift
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/fivetran-package-check-XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== clean copy of the tracked files in $work/src"
mkdir "$work/src"
(cd "$repo" && git ls-files -z | xargs -0 tar -cf - --ignore-failed-read) | tar -xf - -C "$work/src"
"$uv" build -q --out-dir "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
echo "built $(basename "$wheel") and $(basename "$sdist")"

python3 - "$wheel" "$sdist" <<'PY'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)
need(not [n for n in names if n.startswith("tests/") or "/tests/" in n or "conftest" in n], "wheel holds test code")
need(any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "wheel lacks LICENSE")
need(any(n.endswith(".dist-info/licenses/NOTICE") for n in names), "wheel lacks NOTICE")
dags = [n for n in names if n.startswith("airflow_provider_fivetran_update/example_dags/") and n.endswith(".py")]
need(len(dags) >= 3, f"wheel lacks the example DAGs: {dags}")
meta = zipfile.ZipFile(wheel).read([n for n in names if n.endswith(".dist-info/METADATA")][0]).decode()
need("Classifier: Development Status ::" in meta, "no Development Status classifier")
need("Provides-Extra: simulator" in meta, "no simulator extra")
need("Provides-Extra: dev" not in meta and "Provides-Extra: test" not in meta, "developer tools in a user extra")
need("Requires-Dist: apache-airflow<4,>=2.11.0" in meta or "Requires-Dist: apache-airflow>=2.11.0" in meta, "apache-airflow>=2.11.0 missing")
sdist_names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
for required in ("LICENSE", "NOTICE", "README.md", "CHANGELOG.md", "docs/connection.md", "example_dags/"):
    need(any(name == required or name.startswith(required) for name in sdist_names), f"sdist lacks {required}")
if problems:
    sys.exit("package check failed: " + "; ".join(problems))
print(f"wheel: {len(names)} files, no test code, LICENSE and NOTICE, {len(dags)} example DAGs; sdist complete")
PY

status=0
for version in "$@"; do
  venv="$work/venv-$version"
  echo "== apache-airflow $version: plain install of the wheel"
  python3 -m venv "$venv"
  "$uv" pip install -q --python "$venv/bin/python" "$wheel" "apache-airflow==$version"
  cd "$work"  # nothing of the checkout on sys.path
  export AIRFLOW_HOME="$work/home-$version"
  "$venv/bin/python" - <<'PY'
import importlib.util
import airflow_provider_fivetran_update.operators.fivetran, airflow_provider_fivetran_update.sensors.fivetran
import airflow_provider_fivetran_update.maintenance, airflow_provider_fivetran_update.triggers.fivetran
from airflow.providers_manager import ProvidersManager
hooks = ProvidersManager().hooks
assert "fivetran" in hooks, sorted(hooks)
print("provider imports; connection type 'fivetran' registered;",
      "simulator server deps:", "present" if importlib.util.find_spec("starlette") else "absent (the [simulator] extra)")
PY
  if ! "$venv/bin/python" -c "import starlette" 2>/dev/null; then
    if "$venv/bin/python" -m airflow_provider_fivetran_update.testing.demo 2> "$work/demo-err.txt"; then
      echo "the demo ran without the simulator extra"; status=1
    else
      echo "without the extra the demo says: $(tail -n 1 "$work/demo-err.txt")"
    fi
  fi
  echo "== apache-airflow $version: with the [simulator] extra, the demo from the installed package"
  "$uv" pip install -q --python "$venv/bin/python" "${wheel}[simulator]" "apache-airflow==$version"
  start=$(date +%s)
  if "$venv/bin/python" -m airflow_provider_fivetran_update.testing.demo > "$work/demo-$version.txt" 2>&1; then
    echo "apache-airflow $version: demo passed in $(( $(date +%s) - start ))s"
    grep -E "^(== |DAG run)" "$work/demo-$version.txt"
  else
    echo "apache-airflow $version: demo FAILED"; cat "$work/demo-$version.txt"; status=1
  fi
  cd "$repo"
done
exit $status
