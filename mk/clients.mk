# Third-party clients the simulator is tested with (tests/testing/test_simulator_clients.py), each
# in its own venv under .clients/ so their pins (fivetran-cli pins requests==2.34.2) never touch ours.
# `make test` builds them first; the tests skip a client whose venv is missing.
FIVETRAN_CLI ?= fivetran-cli==1.1.0
CLIENTS_DIR ?= .clients
FIVETRAN_CLI_VENV := $(CLIENTS_DIR)/fivetran-cli
FIVETRAN_CLI_STAMP := $(FIVETRAN_CLI_VENV)/.installed-$(subst ==,-,$(FIVETRAN_CLI))

.PHONY: client-venvs

client-venvs: $(FIVETRAN_CLI_STAMP)

$(FIVETRAN_CLI_STAMP): $(STAMP)
	test -x $(FIVETRAN_CLI_VENV)/bin/python || $(PYTHON) -m venv $(FIVETRAN_CLI_VENV)
	$(BIN)/uv pip install -q --python $(FIVETRAN_CLI_VENV)/bin/python "$(FIVETRAN_CLI)"
	$(FIVETRAN_CLI_VENV)/bin/python -c "import fivetran_cli.http.client, fivetran_cli.cli_utils.parser"
	rm -f $(FIVETRAN_CLI_VENV)/.installed-*
	touch $@

test: client-venvs
