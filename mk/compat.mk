# Every supported Airflow: the suite (the browser test aside) against the lowest supported release
# and the latest one, each in its own venv (.venv-airflow-X.Y.Z), built like the main one.
# `make test-compat COMPAT_AIRFLOW_VERSIONS=3.2.2` tests another release.
COMPAT_AIRFLOW_VERSIONS ?= 3.1.8 3.3.2
COMPAT_PYTEST_ARGS ?= -m "not browser" -q

.PHONY: test-compat compat-venvs

compat-venvs: $(foreach v,$(COMPAT_AIRFLOW_VERSIONS),.venv-airflow-$(v)/.installed)

.venv-airflow-%/.installed: pyproject.toml
	test -x .venv-airflow-$*/bin/python || $(PYTHON) -m venv .venv-airflow-$*
	.venv-airflow-$*/bin/python -m pip install -q --upgrade pip uv || true
	if [ -x .venv-airflow-$*/bin/uv ]; then \
	  .venv-airflow-$*/bin/uv pip install -q --python .venv-airflow-$*/bin/python -e ".[simulator]" --group dev "apache-airflow==$*"; \
	else \
	  .venv-airflow-$*/bin/python -m pip install -q -e ".[simulator]" --group dev "apache-airflow==$*"; \
	fi
	touch $@

# Every version runs even when an earlier one fails; the target fails if any did.
test-compat: compat-venvs
	@status=0; \
	for v in $(COMPAT_AIRFLOW_VERSIONS); do \
	  echo "=== Airflow $$v (.venv-airflow-$$v)"; \
	  start=$$(date +%s); \
	  if .venv-airflow-$$v/bin/python -m pytest $(COMPAT_PYTEST_ARGS) $(PYTEST_ARGS); then result=passed; \
	  else result=FAILED; status=1; fi; \
	  core=$$(.venv-airflow-$$v/bin/python -c "import importlib.metadata as m; print('task-sdk', m.version('apache-airflow-task-sdk'), 'common-compat', m.version('apache-airflow-providers-common-compat'))"); \
	  echo "apache-airflow $$v ($$core): $$result in $$(( $$(date +%s) - start ))s" > .venv-airflow-$$v/compat-result.txt; \
	done; \
	echo "=== test-compat summary"; \
	for v in $(COMPAT_AIRFLOW_VERSIONS); do cat .venv-airflow-$$v/compat-result.txt; done; \
	exit $$status
