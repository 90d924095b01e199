GO ?= go

.PHONY: build run test test-short fuzz chaos chaos-short chaos-cluster chaos-metadata chaos-txn chaos-netns vet fmt
build:
	$(GO) build -o bin/trib ./cmd/trib

run: build
	./bin/trib dev

test: build
	scripts/test

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Fault tests (kill -9, restarts) behind the chaos build tag; CHAOS_ITERATIONS
# sets the kills per storage test (at least 20), CHAOS_CYCLES the fault cycles
# of the 3-broker cluster loop (at least 50; CHAOS_SEED replays a run).
# CHAOS_NETNS_CYCLES the network-partition cycles (root and ip netns needed,
# else that test skips). CHAOS_CORRUPT_CYCLES the CRC flips in a leader's log
# under load (each must be read past through a new leader and repaired).
# CHAOS_REGISTRY_CYCLES the SIGKILLs of the elected schema registry writer
# under concurrent registrations. CHAOS_TXN_CYCLES the kill -9/SIGSTOP
# cycles of transaction coordinators, the group coordinator and partition
# leaders under consume-transform-produce (at least 50).
# CHAOS_METADATA_CYCLES the kill -9s of the active controller around a
# broker-only node's registration (every broker must list every broker).
CHAOS_ITERATIONS ?= 20
CHAOS_CYCLES ?= 50
CHAOS_NETNS_CYCLES ?= 100
CHAOS_CORRUPT_CYCLES ?= 20
CHAOS_REGISTRY_CYCLES ?= 5
CHAOS_TXN_CYCLES ?= 50
CHAOS_METADATA_CYCLES ?= 30
chaos:
	CHAOS_ITERATIONS=$(CHAOS_ITERATIONS) CHAOS_CYCLES=$(CHAOS_CYCLES) CHAOS_METADATA_CYCLES=$(CHAOS_METADATA_CYCLES) CHAOS_NETNS_CYCLES=$(CHAOS_NETNS_CYCLES) CHAOS_CORRUPT_CYCLES=$(CHAOS_CORRUPT_CYCLES) CHAOS_REGISTRY_CYCLES=$(CHAOS_REGISTRY_CYCLES) CHAOS_TXN_CYCLES=$(CHAOS_TXN_CYCLES) $(GO) test -tags chaos -count=1 -timeout 180m -run Chaos -v ./tests/

# Only the cluster fault loop (kill -9 / SIGSTOP / SIGTERM of random brokers,
# rolling restarts; CHAOS_FAULTS="rolling restart" runs only those).
# Every fault loop in a short form (a few cycles each, ~3-5 minutes on 2
# cores): what .ci/run runs after make test. The full runs are make chaos.
chaos-short:
	$(MAKE) chaos CHAOS_ITERATIONS=5 CHAOS_CYCLES=5 CHAOS_NETNS_CYCLES=5 CHAOS_CORRUPT_CYCLES=3 CHAOS_REGISTRY_CYCLES=2 CHAOS_TXN_CYCLES=5 CHAOS_METADATA_CYCLES=5

chaos-cluster:
	CHAOS_CYCLES=$(CHAOS_CYCLES) $(GO) test -tags chaos -count=1 -timeout 60m -run TestChaosClusterFaults -v ./tests/

# Only the metadata loop: kill -9 of the active controller before, while
# or after a broker-only node registers; every broker, the restarted one
# too, must list every broker within 30s.
chaos-metadata:
	CHAOS_METADATA_CYCLES=$(CHAOS_METADATA_CYCLES) $(GO) test -tags chaos -count=1 -timeout 60m -run TestChaosMetadataControllerKill -v ./tests/

# Only the transaction loop: consume-transform-produce with two
# GroupTransactSession workers while coordinators and leaders are killed;
# prints TXN CHAOS RESULT (lost, duplicated, aborted and uncommitted reads).
chaos-txn:
	CHAOS_TXN_CYCLES=$(CHAOS_TXN_CYCLES) $(GO) test -tags chaos -count=1 -timeout 60m -run TestChaosTransactions -v ./tests/

# Only the network-partition loop: brokers in network namespaces, faults
# with ip link / iptables plus kill -9 and SIGSTOP, librdkafka and franz-go
# idempotent producers; prints per-fault availability gaps.
chaos-netns:
	CHAOS_NETNS_CYCLES=$(CHAOS_NETNS_CYCLES) $(GO) test -tags chaos -count=1 -timeout 150m -run TestChaosNetnsFaults -v ./tests/
