# The two set-up commands: `make demo` (the main job on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export VODREC_HOME ?= $(CURDIR)/.vodrec
# No DAGSTER_HOME: run from here, Dagster reads ./dagster.yaml, the local instance (.vodrec/dagster_home).

.PHONY: install demo test ui check clean

$(BIN)/vodrec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/vodrec

demo: install
	$(BIN)/vodrec demo

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The Dagster UI on http://127.0.0.1:3000 over the same local instance and partitions the demo wrote.
ui: install
	$(BIN)/dg dev --host 127.0.0.1 --port 3000 --log-level info

check: install
	$(BIN)/dg check defs

clean:
	rm -rf $(VENV) $(VODREC_HOME)
