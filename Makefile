# Ciclo Performance – see README.md
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000

.PHONY: install run test test-fast lint format migrations-check pytest bench load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
	@# Test tools from the npm registry, pinned in package-lock.json: axe-core (tests/browser/test_accessibility.py)
	@# and vnu-jar, the Nu Html Checker run with Java 17 (tests/config/test_html_validity.py); not served by the app
	@if command -v npm >/dev/null; then \
	  [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --ignore-scripts --silent; \
	else \
	  echo "npm not found: the accessibility and HTML validity tests will fail; install nodejs and npm" >&2; \
	fi
	@# Chromium for the browser tests (tests/browser): apt-get only as root, never Playwright's download
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else \
	    echo "chromium not found: the browser tests (tests/browser) will fail; install it (apt-get install chromium)" >&2; \
	  fi; }
	@# Pango for WeasyPrint (the Relazione's PDF): apt-get only when it is missing, only as root
	@$(BIN)/python -c "import weasyprint" 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core; \
	  else \
	    echo "WeasyPrint cannot load Pango: the PDF of the Relazione will fail; install libpango-1.0-0 libpangoft2-1.0-0" >&2; \
	  fi; }

run: install
	$(BIN)/python manage.py setup_demo
	$(BIN)/python manage.py runserver $(HOST)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

pytest: install
	$(BIN)/python -m pytest

test: lint migrations-check pytest

# The fast tier (README, «Avvio»): the scoring engine, the loader, the selectors, the values, plan
# and imports forms and services; no browser, no WeasyPrint, no subprocess, no large uploads.
FAST_TESTS := $(addprefix tests/performance/,test_scoring_rules.py test_scoring_rows_and_trees.py \
	test_scoring_properties.py test_relazione_2019.py test_actual_record.py test_selectors.py \
	test_loader.py test_entry.py test_hardening_input.py test_plan.py test_imports.py \
	test_rules_registry.py test_rules_errors.py \
	test_rules_texts.py)

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser" $(FAST_TESTS)

bench: install
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/entry.py
	$(BIN)/python bench/relazione.py

load: install
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis db.sqlite3
