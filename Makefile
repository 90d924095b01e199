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
