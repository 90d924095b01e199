GO ?= go

.PHONY: build run test test-short fuzz chaos vet fmt
build:
	$(GO) build -o bin/trib ./cmd/trib

run: build
	./bin/trib dev

test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Fault tests (kill -9, restarts) behind the chaos build tag; CHAOS_ITERATIONS
# sets the kills per test (at least 20).
CHAOS_ITERATIONS ?= 20
chaos:
	CHAOS_ITERATIONS=$(CHAOS_ITERATIONS) $(GO) test -tags chaos -count=1 -timeout 30m -run Chaos -v ./tests/
