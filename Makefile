# Every target builds .venv on first use and reuses it afterwards.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-airflow-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=
# Options for the demo, e.g. `make demo DEMO_ARGS=--keep` (keep its AIRFLOW_HOME and logs).
DEMO_ARGS ?=

.PHONY: venv test lint format demo clean


venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv || true
	if [ -x $(BIN)/uv ]; then \
	  $(BIN)/uv pip install -q --python $(BIN)/python -e ".[simulator]" --group dev "apache-airflow==$(AIRFLOW_VERSION)"; \
	else \
	  $(BIN)/python -m pip install -q -e ".[simulator]" --group dev "apache-airflow==$(AIRFLOW_VERSION)"; \
	fi
	rm -f $(VENV)/.installed-airflow-*
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_fivetran_update tests example_dags
	$(BIN)/ruff format --check airflow_provider_fivetran_update tests example_dags
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix airflow_provider_fivetran_update tests example_dags
	$(BIN)/ruff format airflow_provider_fivetran_update tests example_dags

demo: $(STAMP)
	$(BIN)/python -m airflow_provider_fivetran_update.testing.demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .bench .pytest_cache .mypy_cache .ruff_cache dist

# Targets for the heavier suites (compatibility, browser, deployment, benchmarks) live in mk/.
-include mk/*.mk
