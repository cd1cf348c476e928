# The two commands: `make run` (install if needed, migrate, demo tenant, web + worker) and
# `make test` (install if needed: ruff, mypy, the whole suite — the gate, what .ci/run calls).
# For the edit loop, `make test-fast` skips the tests that start a worker or a browser;
# `make bench` runs the benchmarks (quick sizes; `make bench BENCH_ARGS=--full` for the published
# ones). Everything lands in .venv and node_modules.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
BENCH_ARGS ?=

.PHONY: install run test test-fast lint bench clean-data

install: $(STAMP)

$(STAMP): pyproject.toml package.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,dev]'
	npm install --no-audit --no-fund --loglevel=error
	touch $(STAMP)

run: install
	$(PY) manage.py kb_serve --port $(PORT)

test: install
	bash scripts/ensure-chromium.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(PY) -m pytest

test-fast: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not worker and not browser"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

bench: install
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean-data:
	-$(PY) manage.py kb_db stop
	rm -rf .kbdata
