# bridge: `make run` serves with an embedded PostgreSQL and a demo tenant (`make run PORT=8090`
# for another port); `make test` runs ruff, mypy and the whole pytest suite. Each installs
# what is missing into .venv first: `run` only bridge and what it needs to run, `test` the
# dev tools too (pyproject.toml's dev extra).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
STAMP  := $(VENV)/.installed-stamp
STATE  ?= .state
PORT   ?= 8080

.PHONY: install run test lint typecheck pytest bench clean

$(RUN_STAMP): pyproject.toml
	@echo "make: installing bridge and what it needs to run into $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar on -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	@echo "make: installing the dev tools (ruff, mypy, pytest, ...) into $(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	BRIDGE_STATE_DIR=$(STATE) $(BIN)/bridge serve --demo --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check bridge tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# A base temp of its own: pytest's default (/tmp/pytest-of-USER) keeps only the three newest
# runs, so a second `make test` beside this one would delete this run's databases under it.
pytest: $(STAMP)
	@tmp=$$(mktemp -d /tmp/bridge-pytest.XXXXXX); \
	$(BIN)/pytest --basetemp=$$tmp; rc=$$?; rm -rf $$tmp; exit $$rc

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
