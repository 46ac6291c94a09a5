# minikube-none-bootstrap — build, test, release. `make test` is what CI runs.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/minikube-none-bootstrap
MUSL_TARGET := x86_64-unknown-linux-musl

.PHONY: build test lint unit release e2e demo double-test schema-check clean

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

test: lint unit double-test
	@echo "make test: all suites passed"

# A static x86_64 binary: needs `rustup target add x86_64-unknown-linux-musl` and musl-tools.
release:
	$(CARGO) build --release --target $(MUSL_TARGET)
	@file target/$(MUSL_TARGET)/release/minikube-none-bootstrap

clean:
	$(CARGO) clean
