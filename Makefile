# Feature store: build, test and run. `make help` lists the targets.
#
# Build output and downloaded servers live outside the clone, under
# $(FS_CACHE), so fresh clones (CI) reuse them.

SHELL := /bin/bash
FS_CACHE ?= $(HOME)/.cache/featurestore
export FS_CACHE
export CARGO_TARGET_DIR ?= $(FS_CACHE)/target
SCRIPTS := dev
CARGO ?= cargo

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

DATA_DIR ?= featurestore-data
FSCTL := $(CARGO_TARGET_DIR)/debug/fsctl
# What `make run` builds: standalone (embedded backends only: no librdkafka,
# no Cassandra driver, no etcd client) and fsctl, in one build so that the
# commands after it (example-energy) find everything built with the same
# features and compile nothing.
STANDALONE_BUILD = $(CARGO) build -p featurestore-standalone -p fsctl --bin standalone --bin fsctl

.PHONY: run
run: ## Build and start the whole feature store in one process (standalone mode; data in ./$(DATA_DIR))
	$(SCRIPTS)/deps.sh standalone
	$(STANDALONE_BUILD)
	$(CARGO_TARGET_DIR)/debug/standalone --data-dir $(DATA_DIR)

.PHONY: example-energy
example-energy: ## Register examples/energy and load its daily and (the last 6 days') half-hourly meter readings into a running feature store
	$(STANDALONE_BUILD) -q
	$(FSCTL) apply -f examples/energy/energy.yaml
	$(FSCTL) ingest -p energy --group daily_readings --file examples/energy/daily_readings.csv
	readings=$$(mktemp --suffix=.csv) && \
	  python3 examples/energy/generate.py --meter-readings $$readings --days 6 && \
	  $(FSCTL) ingest -p energy --group meter_readings --file $$readings; \
	  status=$$?; rm -f $$readings; exit $$status

.PHONY: deps
deps: ## Install build prerequisites (protoc, cmake, ...) from Debian packages, and the test venv (pyarrow, duckdb)
	$(SCRIPTS)/deps.sh
	$(SCRIPTS)/python.sh

.PHONY: build
build: deps ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

.PHONY: infra-up
infra-up: ## Install and start the test servers (etcd, Kafka, Cassandra) on 127.0.0.1
	$(SCRIPTS)/infra.sh up

.PHONY: infra-down
infra-down: ## Stop the test servers (data is kept)
	$(SCRIPTS)/infra.sh down

.PHONY: test
test: deps infra-up fmt-check sdk-proto-check ## Install what the tests need, start it, run every test (Rust, then the Python SDK's)
	$(SCRIPTS)/cargo-test.sh --workspace --all-targets --no-fail-fast
	$(SCRIPTS)/sdk-test.sh

.PHONY: test-unit
test-unit: ## Unit tests only (no servers needed)
	$(CARGO) test --workspace --lib --bins

# The crates as standalone mode links them: no production backend.
NO_BACKEND_CRATES := featurestore-standalone featurestore-registry featurestore-ingestion \
  featurestore-materialization featurestore-online-serving featurestore-offline-query \
  featurestore-metastore featurestore-eventlog featurestore-onlinestore

.PHONY: lint
lint: deps ## cargo clippy (warnings are errors) for every backend combination that ships; every k8s kustomization built and validated against the Kubernetes schemas (strict); alert rules and dashboard queries checked and the alerts unit-tested by promtool; ruff over the Python SDK
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) clippy $(NO_BACKEND_CRATES:%=-p %) --no-default-features --lib --bins -- -D warnings
	$(SCRIPTS)/k8s-check.sh
	$(SCRIPTS)/monitoring-check.sh
	$(FS_CACHE)/venv/bin/ruff format --check --quiet sdk/python
	$(FS_CACHE)/venv/bin/ruff check --quiet sdk/python

FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: ## Every fuzz target coverage-guided (cargo-fuzz, nightly) for FUZZ_SECONDS each; `make test` replays the corpora on stable
	$(SCRIPTS)/fuzz.sh $(FUZZ_SECONDS)

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: fmt-check
fmt-check: ## Fail on unformatted code
	$(CARGO) fmt --all -- --check

.PHONY: proto
proto: deps ## Regenerate libs/proto/src/generated from proto/
	$(CARGO) run -q -p featurestore-proto-codegen

.PHONY: sdk-test
sdk-test: deps infra-up ## The Python SDK's tests (pytest) against standalone and the distributed services, after installing sdk/python with pip
	$(SCRIPTS)/sdk-test.sh

.PHONY: sdk-proto
sdk-proto: deps ## Regenerate the Python SDK's gRPC stubs (sdk/python/src/featurestore/v1) from proto/
	$(SCRIPTS)/sdk-proto.sh

.PHONY: sdk-proto-check
sdk-proto-check: deps ## Fail when the Python SDK's stubs and proto/ differ
	$(SCRIPTS)/sdk-proto.sh --check

.PHONY: proto-check
proto-check: deps ## Fail when generated code and proto/ differ
	$(CARGO) run -q -p featurestore-proto-codegen -- --check

.PHONY: run-registry
run-registry: deps infra-up ## Run the registry on 127.0.0.1:50051 against the test etcd
	$(CARGO) run -p featurestore-registry --bin registry -- --config services/registry/config/registry.example.toml

.PHONY: example
example: ## Apply examples/shop.yaml to a running registry
	$(CARGO) run -q -p fsctl -- apply -f examples/shop.yaml

.PHONY: grpcurl-list
grpcurl-list: ## List the services of a running registry with grpcurl
	$(SCRIPTS)/grpcurl.sh -plaintext 127.0.0.1:50051 list

.PHONY: bench-registry
bench-registry: deps infra-up ## Registry create/get latency over gRPC + etcd (bench-results/registry.json)
	$(CARGO) run --release -q -p featurestore-benches --bin bench_registry

.PHONY: clean-infra
clean-infra: ## Stop the test servers and delete their data (tests leave topics and tables behind)
	$(SCRIPTS)/infra.sh reset

.PHONY: run-ingestion
run-ingestion: deps infra-up ## Run ingestion on 127.0.0.1:50052 against the test etcd and Kafka
	$(CARGO) run -p featurestore-ingestion --bin ingestion -- --config services/ingestion/config/ingestion.example.toml

.PHONY: run-materialization
run-materialization: deps infra-up ## Run materialization (Kafka -> Cassandra + Delta under ./data/offline)
	$(CARGO) run -p featurestore-materialization --bin materialization -- --config services/materialization/config/materialization.example.toml

.PHONY: bench-write
bench-write: deps infra-up ## Write-path benchmark: ingest + materialize N rows (bench-results/write.json)
	$(CARGO) build --release -q -p featurestore-ingestion -p featurestore-materialization -p featurestore-benches --bin ingestion --bin materialization --bin bench_write
	$(CARGO_TARGET_DIR)/release/bench_write $(BENCH_ARGS)

.PHONY: run-serving
run-serving: deps infra-up ## Run online serving on 127.0.0.1:50053 against the test etcd and Cassandra
	$(CARGO) run -p featurestore-online-serving --bin online-serving -- --config services/online-serving/config/online-serving.example.toml

.PHONY: run-offline-query
run-offline-query: deps infra-up ## Run offline query (gRPC + Arrow Flight) on 127.0.0.1:50054 over ./data/offline
	$(CARGO) run -p featurestore-offline-query --bin offline-query -- --config services/offline-query/config/offline-query.example.toml

.PHONY: bench-offline
bench-offline: deps ## Offline PIT join vs DuckDB ASOF JOIN: wall, rows/s, peak memory, identical results (bench-results/offline.json)
	$(CARGO) build --release -q -p featurestore-benches --bin bench_offline
	$(CARGO_TARGET_DIR)/release/bench_offline $(BENCH_ARGS)

.PHONY: bench-serve
bench-serve: deps infra-up ## Serving benchmark: service vs direct driver, p50-p99.9 (bench-results/serve.json)
	$(CARGO) build --release -q -p featurestore-online-serving -p featurestore-benches --bin online-serving --bin bench_serve
	$(CARGO_TARGET_DIR)/release/bench_serve $(BENCH_ARGS)

.PHONY: bench-serve-standalone
bench-serve-standalone: ## Serving benchmark against standalone mode (embedded store; bench-results/serve-standalone.json)
	$(SCRIPTS)/deps.sh build
	$(CARGO) build --release -q -p featurestore-standalone -p featurestore-benches --bin standalone --bin bench_serve
	$(CARGO_TARGET_DIR)/release/bench_serve --target standalone $(BENCH_ARGS)

.PHONY: bench-consistency
bench-consistency: deps infra-up ## Read-your-writes: ingest ack -> AFTER_WRITE answer p50/p99, EVENTUAL reads, waiting requests' memory; distributed then standalone (bench-results/consistency-*.json)
	$(CARGO) build --release -q -p featurestore-ingestion -p featurestore-materialization -p featurestore-online-serving -p featurestore-offline-query -p featurestore-standalone -p featurestore-benches --bin ingestion --bin materialization --bin online-serving --bin offline-query --bin standalone --bin bench_consistency
	$(CARGO_TARGET_DIR)/release/bench_consistency --target distributed $(BENCH_ARGS)
	$(CARGO_TARGET_DIR)/release/bench_consistency --target standalone $(BENCH_ARGS)

.PHONY: bench-aggregations
bench-aggregations: deps infra-up ## Windowed aggregations: events folded per CPU-second, serving p50/p99 of 8 aggregated features (1 and 100 vectors), offline point-in-time rows/s vs DuckDB; distributed then standalone (bench-results/aggregations-*.json)
	$(CARGO) build --release -q -p featurestore-ingestion -p featurestore-materialization -p featurestore-online-serving -p featurestore-offline-query -p featurestore-standalone -p featurestore-benches --bin ingestion --bin materialization --bin online-serving --bin offline-query --bin standalone --bin bench_aggregations
	$(CARGO_TARGET_DIR)/release/bench_aggregations --target distributed $(BENCH_ARGS)
	$(CARGO_TARGET_DIR)/release/bench_aggregations --target standalone $(BENCH_ARGS)

.PHONY: bench-aggregations-standalone
bench-aggregations-standalone: ## The standalone half of bench-aggregations (no etcd/Kafka/Cassandra needed)
	$(SCRIPTS)/deps.sh build
	$(CARGO) build --release -q -p featurestore-standalone -p featurestore-benches --bin standalone --bin bench_aggregations
	$(CARGO_TARGET_DIR)/release/bench_aggregations --target standalone $(BENCH_ARGS)

.PHONY: bench-offline-aggregations
bench-offline-aggregations: ## Aggregated training data at scale (default 1M entity rows x 10M events): the query engine in process vs DuckDB, wall time and peak memory (bench-results/offline-aggregations.json)
	$(SCRIPTS)/deps.sh build
	$(CARGO) build --release -q -p featurestore-benches --bin bench_offline_aggregations
	$(CARGO_TARGET_DIR)/release/bench_offline_aggregations $(BENCH_ARGS)

.PHONY: bench-sdk
bench-sdk: deps ## Python SDK: 100-vector calls (p50/p99) and a 1M-row historical read to pandas (wall, peak RSS), beside the same calls from Rust, against a release standalone (bench-results/sdk.json)
	$(SCRIPTS)/deps.sh build
	$(CARGO) build --release -q -p featurestore-standalone -p featurestore-benches --bin standalone --bin bench_sdk_reference
	$(FS_CACHE)/venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall ./sdk/python
	$(FS_CACHE)/venv/bin/python sdk/python/bench/bench_sdk.py $(BENCH_ARGS)

.PHONY: bench-consistency-standalone
bench-consistency-standalone: ## The standalone half of bench-consistency (no etcd/Kafka/Cassandra needed)
	$(SCRIPTS)/deps.sh build
	$(CARGO) build --release -q -p featurestore-standalone -p featurestore-benches --bin standalone --bin bench_consistency
	$(CARGO_TARGET_DIR)/release/bench_consistency --target standalone $(BENCH_ARGS)
