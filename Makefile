# Two commands set everything up on a fresh machine with Python 3.11 and pip:
#   make demo   -> .venv, kwscope installed, demo-report.html from the bundled demo set
#   make test   -> .venv with the test extra (and Chromium for the browser tests), whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/kwscope demo -o demo-report.html

test: $(VENV)/.installed-test
	bash scripts/ensure_system_deps.sh
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo-report.html demo-report.json .pytest_cache
