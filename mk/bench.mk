# Benchmarks side by side with the astronomer provider (airflow-provider-fivetran-async).
# `make bench` builds .bench/ (the baseline's own venv, on the same Airflow as ours, and a venv
# with matplotlib for the plot), runs tests/benchmarks/ and rewrites docs/benchmarks.md and
# docs/benchmarks.png. About 8 minutes on 2 cores. BENCH_ARGS passes options to the driver, e.g.
# `make bench BENCH_ARGS="--only imports,hook"`; `make bench-quick` runs the smoke sizes.
ASTRO_PROVIDER ?= airflow-provider-fivetran-async==2.4.0
BENCH_DIR ?= .bench
ASTRO_VENV := $(BENCH_DIR)/astro
PLOT_VENV := $(BENCH_DIR)/plot
ASTRO_STAMP := $(ASTRO_VENV)/.installed-$(subst ==,-,$(ASTRO_PROVIDER))-airflow-$(AIRFLOW_VERSION)
PLOT_STAMP := $(PLOT_VENV)/.installed-matplotlib
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-smoke bench-venvs

bench-venvs: $(ASTRO_STAMP) $(PLOT_STAMP)

# The baseline gets nothing of ours: only its own package and the same Airflow release.
$(ASTRO_STAMP): $(STAMP)
	test -x $(ASTRO_VENV)/bin/python || $(PYTHON) -m venv $(ASTRO_VENV)
	$(BIN)/uv pip install -q --python $(ASTRO_VENV)/bin/python "$(ASTRO_PROVIDER)" "apache-airflow==$(AIRFLOW_VERSION)"
	$(ASTRO_VENV)/bin/python -c "import fivetran_provider_async.operators, fivetran_provider_async.sensors, fivetran_provider_async.triggers"
	rm -f $(ASTRO_VENV)/.installed-*
	touch $@

$(PLOT_STAMP): $(STAMP)
	test -x $(PLOT_VENV)/bin/python || $(PYTHON) -m venv $(PLOT_VENV)
	$(BIN)/uv pip install -q --python $(PLOT_VENV)/bin/python "matplotlib>=3.8"
	touch $@

bench: $(STAMP) bench-venvs
	$(BIN)/python tests/benchmarks/run_benchmarks.py \
	  --astro-python $(ASTRO_VENV)/bin/python --plot-python $(PLOT_VENV)/bin/python \
	  --results $(BENCH_DIR)/results.json --markdown docs/benchmarks.md --png docs/benchmarks.png $(BENCH_ARGS)

bench-quick: $(STAMP) bench-venvs
	$(BIN)/python tests/benchmarks/run_benchmarks.py --quick \
	  --astro-python $(ASTRO_VENV)/bin/python --plot-python $(PLOT_VENV)/bin/python \
	  --results $(BENCH_DIR)/results-quick.json --markdown $(BENCH_DIR)/benchmarks-quick.md \
	  --png $(BENCH_DIR)/benchmarks-quick.png $(BENCH_ARGS)

# `make test` smoke-runs our side of the benchmarks only; this runs both sides, so neither rots.
bench-smoke: $(STAMP) $(ASTRO_STAMP)
	BENCH_SMOKE_BASELINE=1 $(BIN)/python -m pytest -m bench tests/benchmarks $(PYTEST_ARGS)
