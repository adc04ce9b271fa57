# The browser test: a real `airflow api-server` driven by Debian's Chromium through Playwright.
# `make test` installs what it needs first, so the test runs there too; `make test-browser` runs it
# alone; `make screenshots` also refreshes docs/screenshots/.
CHROMIUM ?= /usr/bin/chromium
PLAYWRIGHT_REQUIREMENT ?= playwright>=1.45,<2
BROWSER_STAMP := $(VENV)/.installed-browser-deps

.PHONY: browser-deps test-browser screenshots

browser-deps: $(BROWSER_STAMP)

# Debian's chromium, never a browser build of Playwright's own (`playwright install` cannot fetch one
# here); the Python package from PyPI ships its driver inside the wheel.
$(BROWSER_STAMP): $(STAMP)
	@if [ ! -x $(CHROMIUM) ]; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "Installing Debian's chromium (needs apt)"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium; \
	fi
	if [ -x $(BIN)/uv ]; then \
	  $(BIN)/uv pip install -q --python $(BIN)/python "$(PLAYWRIGHT_REQUIREMENT)"; \
	else \
	  $(BIN)/python -m pip install -q "$(PLAYWRIGHT_REQUIREMENT)"; \
	fi
	touch $@

test: browser-deps

test-browser: browser-deps
	$(BIN)/python -m pytest -m browser tests/browser $(PYTEST_ARGS)

screenshots: browser-deps
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -m browser tests/browser $(PYTEST_ARGS)
