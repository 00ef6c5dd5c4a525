# Sunlight developer tasks. `make test` is what CI runs (.ci/run).
#
#   make install     .venv with the project and its dev tools (again only when
#                    pyproject.toml changes)
#   make run         the whole stack on embedded defaults, data in ./.sunlight/
#   make test        start the test services if needed, then pytest, ruff, mypy
#   make lint        ruff and mypy only
#   make clean       remove .venv and caches (keeps ./.sunlight/ data)
#   make clean-data  remove ./.sunlight/ (the embedded database and broker data)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA := .sunlight

.PHONY: install run test lint clean clean-data

install: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	    $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	        echo "Sunlight needs Python >= 3.11: run make PYTHON=python3.11 (or newer)" >&2; \
	        exit 1; }; \
	    echo "$(PYTHON) -m venv $(VENV)"; \
	    $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/sunlight up

test: install
	$(BIN)/python tools/ensure_services.py
	$(BIN)/pytest
	$(BIN)/ruff check .
	$(BIN)/mypy

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
	find . -path ./$(DATA) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data:
	@pidfile=$(DATA)/postgres/postmaster.pid; \
	if [ -f $$pidfile ] && kill -0 "$$(head -n 1 $$pidfile)" 2>/dev/null; then \
	    echo "the embedded PostgreSQL in $(DATA)/ is running: stop sunlight up first" >&2; \
	    exit 1; \
	fi
	rm -rf $(DATA)
