# The two commands a fresh machine needs:
#   make demo   RNN vs LSTM on the adding problem, then a short rnnlab train run on MNIST-1D
#   make test   lint (ruff), the import contract (import-linter), the docs build, then the test suite
# Both create (once) and reuse a virtual env in .venv/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch with none installed pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/adding_problem.py
	$(BIN)/rnnlab train --task mnist1d --epochs 10

test: $(STAMP)
	$(BIN)/ruff check rnnlab tests examples
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$(mktemp -d)"
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/rnnlab bench layers
