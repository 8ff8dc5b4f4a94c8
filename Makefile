# The two commands a fresh machine needs:
#   make demo   RNN vs LSTM on the adding problem, then a short rnnlab train run on MNIST-1D
#   make test   lint (ruff), the import contract (import-linter), the docs build, then the test suite
#               (as root with apt-get, it first installs Debian's chromium and chromium-driver when they are
#               missing, for the browser tests; elsewhere those tests skip and say why)
# Both create (once) and reuse a virtual env in .venv/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch with none installed pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/adding_problem.py
	$(BIN)/rnnlab train --task mnist1d --epochs 10

# Debian's headless browser for the explorer page's tests: installed only when missing, by root, with apt-get;
# if it cannot be installed, the tests that need it skip with the reason.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver (apt-get) for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	    >/dev/null 2>&1 || echo "could not install chromium; the browser tests will be skipped"; \
	else echo "no chromium (apt-get install chromium chromium-driver as root): the browser tests will be skipped"; fi

test: $(STAMP) browser
	$(BIN)/ruff check rnnlab tests examples
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$(mktemp -d)"
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/rnnlab bench layers
