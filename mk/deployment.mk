# The deployment test: the provider on a real Airflow deployment (PostgreSQL, Redis, api-server,
# scheduler, dag-processor, triggerer, two Celery workers and the simulator, all on 127.0.0.1 in
# a temporary directory), driven through the REST API and checked from the outside.
# `make test-deployment` installs Debian's postgresql and redis-server when missing, builds
# .venv-deploy (the provider editable plus apache-airflow[celery,postgres]) and runs
# tests/deployment/run_deployment.py. About 3-5 minutes on 2 cores. DEPLOY_ENV=DEPLOY_KEEP=1
# keeps the temporary directory (logs) after a passing run; a failing run always keeps it.
DEPLOY_VENV ?= .venv-deploy
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed-airflow-$(AIRFLOW_VERSION)
DEPLOY_ENV ?=

.PHONY: test-deployment deployment-venv deployment-system-packages

deployment-venv: $(DEPLOY_STAMP)

$(DEPLOY_STAMP): pyproject.toml mk/deployment.mk
	test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install -q --upgrade pip uv
	$(DEPLOY_VENV)/bin/uv pip install -q --python $(DEPLOY_VENV)/bin/python -e . \
	  "apache-airflow[celery,postgres]==$(AIRFLOW_VERSION)"
	$(DEPLOY_VENV)/bin/python -c "import airflow.providers.celery, airflow.providers.postgres, psycopg2"
	rm -f $(DEPLOY_VENV)/.installed-airflow-*
	touch $@

# PostgreSQL and Redis come from Debian's packages; the test starts its own servers from them.
deployment-system-packages:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then \
	  echo "Installing Debian packages postgresql and redis-server"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server; \
	fi

test-deployment: deployment-system-packages $(DEPLOY_STAMP)
	$(DEPLOY_ENV) $(DEPLOY_VENV)/bin/python tests/deployment/run_deployment.py
