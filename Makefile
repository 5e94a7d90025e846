# fnplat: a thin front end over scripts/. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help up down status logs key test test-unit test-runtime e2e infra images build lint fmt bench

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## Install/start PostgreSQL, RabbitMQ, Docker; build images and services; run the stack (Ctrl-C stops)
	@scripts/stack.sh up

down: ## Stop the services started by `make up` (and a leftover e2e stack)
	@scripts/stack.sh stop up
	@scripts/stack.sh stop e2e

status: ## Show the services of `make up` and whether they are ready
	@scripts/stack.sh status up || true

logs: ## Tail the service logs of `make up`
	@scripts/stack.sh logs up

key: ## Print the API key of `make up`
	@scripts/stack.sh key up

test: ## Set up like `make up`, then run every suite: nextest, runtime tests, end-to-end
	@scripts/test.sh

test-unit: ## Only the Rust tests (cargo nextest run --workspace)
	@FNPLAT_TEST_SUITES=unit scripts/test.sh

test-runtime: ## Only the runtime tests (node --test tests/runtime/)
	@FNPLAT_TEST_SUITES=runtime scripts/test.sh

e2e: ## Only the end-to-end suite (stack on :18080, node-appwrite tests in tests/e2e)
	@FNPLAT_TEST_SUITES=e2e scripts/test.sh

infra: ## Install (if missing) and start PostgreSQL, RabbitMQ and dockerd
	@scripts/infra-up.sh

images: ## Build the runtime images that are missing
	@if [ -x scripts/build-images.sh ]; then scripts/build-images.sh; else echo "scripts/build-images.sh not found"; exit 1; fi

build: ## cargo build --workspace --bins
	cargo build --workspace --bins

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the Rust code
	cargo fmt --all

bench: ## Run scripts/bench.sh (placeholder until it exists)
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else echo "no scripts/bench.sh yet: nothing to benchmark"; fi
