# The two commands a newcomer needs: `make run` and `make test`.
# Each builds .venv from pyproject.toml when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench golden clean kind-up browser fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/xdscp up examples/canary

# The dashboard test drives Debian's Chromium headless (Playwright, no browser download);
# installed once, only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver)

test: $(STAMP) browser
	$(BIN)/ruff check xdscp translators ca xdstypes tests benchmarks
	$(BIN)/mypy
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check xdscp translators ca xdstypes tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

golden: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q tests/golden --update-golden

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m benchmarks.table

# Mutated YAML through validate, translation, real Envoy and a running mesh with
# traffic (tests/fuzz/run.py). N documents per stage; SEED replays a run.
N ?= 300
SEED ?=
fuzz: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m tests.fuzz.run --documents $(N) $(if $(SEED),--seed $(SEED))

# A kind cluster with the control plane and both examples, smoke-checked
# (needs docker, kind and kubectl; see README "Kubernetes / kind").
kind-up: $(STAMP)
	scripts/kind-up.sh

clean:
	rm -rf $(VENV)
