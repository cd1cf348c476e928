# The two commands: `make run` (install if needed, migrate, demo tenant, web + worker) and
# `make test` (install if needed, run the whole suite). Everything lands in .venv and node_modules.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: install run test lint bench clean-data

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
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

bench: install
	$(PY) benchmarks/run_all.py

clean-data:
	-$(PY) manage.py kb_db stop
	rm -rf .kbdata
