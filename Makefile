# snapgate: `make run` serves the API, `make test` runs every test.
# Both install what they need (containerd, runc, busybox-static from Debian)
# and start a project-private containerd when none is reachable.
SHELL := /bin/bash
# SNAPGATE_DATA_DIR, the service's own setting, picks the data dir of
# `make run` too; DATA_DIR (environment or command line) overrides it.
DATA_DIR ?= $(or $(SNAPGATE_DATA_DIR),$(CURDIR)/.snapgate)
TEST_DATA_DIR ?= $(CURDIR)/.snapgate-test
GO ?= go
GOFLAGS_BUILD := -trimpath

.PHONY: all deps build run test test-go test-sdk bench vet lint clean

all: build

deps:
	@deploy/deps.sh

build:
	$(GO) build $(GOFLAGS_BUILD) -o bin/snapgate ./cmd/snapgate
	$(GO) build $(GOFLAGS_BUILD) -o bin/testregistry ./cmd/testregistry

run: deps build
	@deploy/run.sh "$(DATA_DIR)"

vet:
	$(GO) vet ./...

# depguard (.golangci.yml) keeps the imports pointing inward. golangci-lint is
# pinned in its own module, tools/golangci, so its ~200 requirements stay out
# of snapgate's go.mod; `go tool -modfile` builds it from there (a few minutes
# the first time, cached after) and runs it on this module.
GOLANGCI_LINT := $(GO) tool -modfile=tools/golangci/go.mod golangci-lint

lint:
	$(GOLANGCI_LINT) run ./...

# The whole suite: unit, integration (real containerd, Postgres, SQLite) and
# the official-SDK contract tests. The private containerd it may start is
# stopped at the end.
test: deps build vet lint
	@tests/run.sh "$(TEST_DATA_DIR)"

# Figures, not pass/fail: prints create-to-ready vs `ctr images pull` and GET
# latency with validation on/off for the bin/snapgate just built.
bench: deps build
	@SNAPGATE_BIN="$(CURDIR)/bin/snapgate" bench/run.sh "$(TEST_DATA_DIR)"

clean:
	-deploy/containerd.sh down "$(DATA_DIR)"
	-deploy/containerd.sh down "$(TEST_DATA_DIR)"
	rm -rf bin
