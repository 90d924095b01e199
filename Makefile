GO ?= go

.PHONY: build run test test-short fuzz chaos chaos-cluster vet fmt
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
CHAOS_ITERATIONS ?= 20
CHAOS_CYCLES ?= 50
chaos:
	CHAOS_ITERATIONS=$(CHAOS_ITERATIONS) CHAOS_CYCLES=$(CHAOS_CYCLES) $(GO) test -tags chaos -count=1 -timeout 60m -run Chaos -v ./tests/

# Only the cluster fault loop (kill -9 / SIGSTOP / SIGTERM of random brokers).
chaos-cluster:
	CHAOS_CYCLES=$(CHAOS_CYCLES) $(GO) test -tags chaos -count=1 -timeout 60m -run TestChaosClusterFaults -v ./tests/
