# The package as a user installs it: `make test-package` builds the sdist and wheel from a clean
# copy of the tracked files, checks their contents (LICENSE, NOTICE, no test code, the example
# DAGs, the extras), installs the wheel into a fresh venv per Airflow release below and runs the
# demo from there. About 5 minutes on 2 cores; run by .ci/run.
PACKAGE_AIRFLOW_VERSIONS ?= 2.11.2 3.3.2

.PHONY: test-package

test-package: $(STAMP)
	tests/package/check_package.sh $(abspath $(BIN)/uv) $(PACKAGE_AIRFLOW_VERSIONS)
