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

# Serve the app with a worker beside it (embedded defaults), on TESTIMONY_HOST:TESTIMONY_PORT
# (127.0.0.1:5000 unless set). Ctrl-C or SIGTERM stops both within 10 seconds: the web app
# after 5 s of grace, the worker at once (a job it held comes back through its lease).
TESTIMONY_HOST ?= 127.0.0.1
TESTIMONY_PORT ?= 5000
export TESTIMONY_HOST TESTIMONY_PORT
run: init
	@echo "Serving on http://$(TESTIMONY_HOST):$(TESTIMONY_PORT) (Ctrl-C stops the web app and the worker)"
	@$(BIN)/testimony worker & worker=$$!; \
	$(BIN)/testimony serve & web=$$!; \
	trap 'kill -TERM $$worker $$web 2>/dev/null; wait $$worker $$web 2>/dev/null; exit 0' INT TERM; \
	wait $$web; kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null

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
