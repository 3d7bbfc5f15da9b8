# Two commands for a fresh machine: `make run` and `make test`. The rest are their steps.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup translations init lint typecheck serve worker clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/pybabel compile -d translations

init: setup
	$(BIN)/testimony init

# Serve the public intake on http://127.0.0.1:5000 and the staff app on
# http://127.0.0.1:5001/staff/, with a worker beside them (embedded defaults).
# Create the first staff account with `.venv/bin/testimony user add EMAIL --role admin`.
run: init
	@echo "Public intake on http://127.0.0.1:5000, staff on http://127.0.0.1:5001/staff/ (Ctrl-C stops all)"
	$(BIN)/testimony worker & worker=$$!; \
	$(BIN)/testimony serve --audience staff & staff=$$!; \
	trap 'kill $$worker $$staff 2>/dev/null; wait $$worker $$staff 2>/dev/null' EXIT INT TERM; \
	$(BIN)/testimony serve

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check intake workers tests benchmarks
	$(BIN)/mypy intake workers

# Extract new strings from code and templates into the catalogues.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations

clean:
	rm -rf $(VENV) instance
