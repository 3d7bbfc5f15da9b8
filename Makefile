# Two commands for a fresh machine: `make run` and `make test`. The rest are their steps.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup translations init lint typecheck serve worker clean vendor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/pybabel compile -d translations

# Browser code served by the public app (static/vendor/README.md): fetched from the npm registry
# at the pinned version, the browser build and its licence copied, its SHA-256 printed for the
# README's table.
TUS_VERSION ?= 4.3.1
vendor:
	rm -rf .vendor-tmp && mkdir .vendor-tmp
	cd .vendor-tmp && npm pack --silent tus-js-client@$(TUS_VERSION) && tar xzf tus-js-client-$(TUS_VERSION).tgz
	cp .vendor-tmp/package/dist/tus.min.js static/vendor/tus.min.js
	cp .vendor-tmp/package/LICENSE static/vendor/tus-js-client.LICENSE
	rm -rf .vendor-tmp
	sha256sum static/vendor/tus.min.js

init: setup
	$(BIN)/testimony init
	$(BIN)/testimony model

# Serve the public intake on TESTIMONY_HOST:TESTIMONY_PORT (127.0.0.1:5000 unless set) and the
# staff app on TESTIMONY_HOST:TESTIMONY_STAFF_PORT (5001), with a worker beside them (embedded
# defaults). Ctrl-C or SIGTERM stops all three within 10 seconds: the web apps after 5 s of
# grace, the worker at once (a job it held comes back through its lease).
# Create the first staff account with `.venv/bin/testimony user add EMAIL --role admin`.
TESTIMONY_HOST ?= 127.0.0.1
TESTIMONY_PORT ?= 5000
TESTIMONY_STAFF_PORT ?= 5001
export TESTIMONY_HOST TESTIMONY_PORT TESTIMONY_STAFF_PORT
run: init
	@echo "Public intake on http://$(TESTIMONY_HOST):$(TESTIMONY_PORT)/, staff app on http://$(TESTIMONY_HOST):$(TESTIMONY_STAFF_PORT)/staff/ (Ctrl-C stops all)"
	@$(BIN)/testimony user list 2>/dev/null | grep -q @ || echo "No staff account yet. In another terminal: $(BIN)/testimony user add you@example.org --role admin (prints a one-time password), then $(BIN)/testimony custodian add you@example.org before the first testimony arrives, so that names given are sealed to a custodian."
	@$(BIN)/testimony worker & worker=$$!; \
	$(BIN)/testimony serve & web=$$!; \
	$(BIN)/testimony serve --audience staff & staff=$$!; \
	trap 'kill -TERM $$worker $$web $$staff 2>/dev/null; wait $$worker $$web $$staff 2>/dev/null; exit 0' INT TERM; \
	wait $$web; kill -TERM $$worker $$staff 2>/dev/null; wait $$worker $$staff 2>/dev/null

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
