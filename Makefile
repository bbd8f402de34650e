# Rymi Campaigns. `make run` starts the stack on loopback; `make test` runs every test.
SWIFT ?= swift
RELEASE_BIN := .build/release

.PHONY: build debug run test clean

## Release binaries into .build/release/.
build:
	$(SWIFT) build -c release

debug:
	$(SWIFT) build

## The whole stack on loopback, with a local API key printed at start.
run: build
	RYMI_BIN_DIR=$(RELEASE_BIN) scripts/run.sh

## Unit and system tests (system tests start the real executables on ephemeral ports).
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

clean:
	rm -rf .build
