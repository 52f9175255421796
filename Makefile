# The two commands: `make run` (set up, then run the embedded default) and `make test`
# (set up, then run the whole test suite). Both create .venv and provision the models.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup models run test lint bench clean

setup: $(STAMP) models

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

models: $(STAMP)
	$(BIN)/smartshelf models fetch

run: setup
	$(BIN)/smartshelf run -c configs/default.yaml

test: setup
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check smartshelf tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) state build *.egg-info
