# Every supported Airflow, each in its own venv (.venv-airflow-X.Y.Z), built like the main one.
# The lowest supported release runs the whole suite (the browser test aside); the releases between
# it and the latest run the tests that exercise Airflow itself (marker `airflow`: dag.test, every
# example DAG under `airflow dags test`, the connection form; marker `compat`: the hook's
# connection reads and the triggers). The latest release is `make test` itself.
# `make test-compat COMPAT_FULL_VERSIONS= COMPAT_SUBSET_VERSIONS=3.2.2` tests one release.
COMPAT_FULL_VERSIONS ?= 2.11.2
COMPAT_SUBSET_VERSIONS ?= 3.0.6 3.1.8 3.2.2
COMPAT_AIRFLOW_VERSIONS := $(COMPAT_FULL_VERSIONS) $(COMPAT_SUBSET_VERSIONS)
# The benchmarks (marker `bench`) compare with the astronomer provider on the latest Airflow only.
COMPAT_FULL_ARGS ?= -m "not browser and not bench" -q
# The maintenance window's scale test (hundreds of mapped task instances) is left to the full
# runs: Airflow 3.0 and 3.1 start task instances under dag.test() too slowly for it.
COMPAT_SUBSET_ARGS ?= -m "(airflow or compat) and not browser" -q \
  --deselect tests/maintenance/test_maintenance.py::test_hundreds_of_ids_from_a_template_with_exact_request_counts

# Pins a release needs beside it, as Airflow's own constraints file for it has them: Airflow 3.0.6
# and 3.2.2 allow any newer fastapi, and the newest ones refuse the Task SDK's in-process API
# calls (`airflow dags test`: "Input should be a valid dictionary"); 3.2.2's execution API also
# fails with svcs 26 ("'State' object has no attribute 'svcs_registry'"). 3.1 and 3.3 need none.
COMPAT_PINS_3.0.6 ?= "fastapi==0.116.1"
COMPAT_PINS_3.2.2 ?= "fastapi==0.136.3" "svcs==25.1.0"

.PHONY: test-compat compat-venvs

compat-venvs: $(foreach v,$(COMPAT_AIRFLOW_VERSIONS),.venv-airflow-$(v)/.installed)

.venv-airflow-%/.installed: pyproject.toml
	test -x .venv-airflow-$*/bin/python || $(PYTHON) -m venv .venv-airflow-$*
	.venv-airflow-$*/bin/python -m pip install -q --upgrade pip uv || true
	if [ -x .venv-airflow-$*/bin/uv ]; then \
	  .venv-airflow-$*/bin/uv pip install -q --python .venv-airflow-$*/bin/python -e ".[simulator]" --group dev "apache-airflow==$*" $(COMPAT_PINS_$*); \
	else \
	  .venv-airflow-$*/bin/python -m pip install -q -e ".[simulator]" --group dev "apache-airflow==$*" $(COMPAT_PINS_$*); \
	fi
	touch $@

# Every version runs even when an earlier one fails; the target fails if any did.
test-compat: compat-venvs
	@status=0; \
	for v in $(COMPAT_AIRFLOW_VERSIONS); do \
	  case " $(COMPAT_FULL_VERSIONS) " in *" $$v "*) scope=full; args='$(COMPAT_FULL_ARGS)';; \
	    *) scope=subset; args='$(COMPAT_SUBSET_ARGS)';; esac; \
	  echo "=== Airflow $$v (.venv-airflow-$$v, $$scope suite)"; \
	  start=$$(date +%s); \
	  if eval .venv-airflow-$$v/bin/python -m pytest $$args $(PYTEST_ARGS) > .venv-airflow-$$v/compat-output.txt 2>&1; \
	  then result=passed; else result=FAILED; status=1; fi; \
	  tail -n 15 .venv-airflow-$$v/compat-output.txt; \
	  core=$$(.venv-airflow-$$v/bin/python -c "import importlib.metadata as m; print('common-compat', m.version('apache-airflow-providers-common-compat'))"); \
	  echo "apache-airflow $$v ($$core), $$scope suite: $$result in $$(( $$(date +%s) - start ))s: $$(tail -n 1 .venv-airflow-$$v/compat-output.txt)" > .venv-airflow-$$v/compat-result.txt; \
	done; \
	echo "=== test-compat summary"; \
	for v in $(COMPAT_AIRFLOW_VERSIONS); do cat .venv-airflow-$$v/compat-result.txt; done; \
	exit $$status
