# The two set-up commands: `make demo` (the main job on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export VODREC_HOME ?= $(CURDIR)/.vodrec
export DAGSTER_HOME ?= $(VODREC_HOME)/dagster_home

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

# The Dagster UI on http://127.0.0.1:3000 over the same local instance the demo wrote.
ui: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

check: install
	$(BIN)/dg check defs

clean:
	rm -rf $(VENV) $(VODREC_HOME)
