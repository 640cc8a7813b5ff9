# sovscan: every entry point. `make demo` and `make test` install what they need into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PY_SRCS := sovscan tests bench tools

.PHONY: help dev demo test lint typecheck unit browser reformat soak bench bench-quick data-update clean

help:
	@echo "make demo    - run sovscan on the embedded demo institution (no cloud account, no network)"
	@echo "make test    - lint, type check and run the whole test suite"
	@echo "make bench   - performance benchmarks (not part of make test)"
	@echo "make soak    - 10,000-domain soak, repeated kill and secret-leak tests"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)

demo: $(STAMP)
	$(BIN)/sovscan demo

lint: $(STAMP)
	$(BIN)/ruff format --check $(wildcard $(PY_SRCS))
	$(BIN)/ruff check $(wildcard $(PY_SRCS))

typecheck: $(STAMP)
	$(BIN)/mypy

# Test files are spread over the cores; a file's tests stay together and in order (the README
# commands build on each other).
PYTEST_JOBS ?= auto
unit: $(STAMP) browser
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# The HTML report is tested in Debian's chromium, never in a browser downloaded by a tool.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the HTML report test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make test needs chromium: apt-get install chromium (Debian) or your system's package"; \
	    exit 1; \
	  fi; }

test: lint typecheck unit

reformat: $(STAMP)
	$(BIN)/ruff format $(wildcard $(PY_SRCS))
	$(BIN)/ruff check --fix $(wildcard $(PY_SRCS))

# Issue 9's long runs, outside make test: 10,000 domains against a server failing 10 % of
# queries, the CLI's flat memory over 2,000 then 10,000 domains (issue 4), and the kill and
# secret-leak tests repeated.
soak: $(STAMP)
	$(BIN)/python -m tests.hostile.soak --domains 10000 --workers 32 --fail-share 0.1
	$(BIN)/python -m tests.hostile.soak_cli --domains 10000
	SOVSCAN_KILL_REPEATS=40 $(BIN)/python -m pytest -p no:randomly tests/hostile/test_kill.py
	for run in 1 2 3 4 5; do $(BIN)/python -m pytest -q tests/hostile/test_secrets.py || exit 1; done

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m bench --size quick $(BENCH_ARGS)

data-update: $(STAMP)
	$(BIN)/sovscan data update

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
