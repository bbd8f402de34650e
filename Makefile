# Rymi Campaigns. `make run` starts the stack on loopback; `make test` runs every test.
SWIFT ?= swift
RELEASE_BIN := .build/release

.PHONY: build debug run test compose-check fuzz mutants soak bench clean

## Release binaries into .build/release/.
build:
	$(SWIFT) build -c release

debug:
	$(SWIFT) build

## The whole stack on loopback, with a local API key printed at start.
run: build
	RYMI_BIN_DIR=$(RELEASE_BIN) scripts/run.sh

## Unit and system tests (system tests start the real executables on ephemeral ports), the
## multi-host test alone (it measures pacing across a namespace network), and 10 s per fuzz target.
test: compose-check
	SWIFT=$(SWIFT) scripts/test.sh

## The fuzz targets for longer (FUZZ_SECONDS each, default 300).
fuzz:
	scripts/fuzz.sh $${FUZZ_SECONDS:-300}

## Breaks each dispatch rule of the dialing core in turn and checks its test fails (~1 minute
## after a debug build; the sources are restored after each).
mutants:
	python3 scripts/mutants.py

## Validates compose/docker-compose.yml (no Docker engine is needed, only the compose CLI).
compose-check:
	@if command -v docker-compose >/dev/null 2>&1; then \
		PLIVO_AUTH_ID=MA00000000000000CHECK docker-compose -f compose/docker-compose.yml config -q && echo "compose: docker-compose.yml is valid"; \
	else \
		echo "compose: skipped, docker-compose is not installed (.ci/run installs it)"; \
	fi

## Ten minutes of mixed API traffic and a running campaign (SOAK_SECONDS to change); release build.
soak: build
	cd bench && RYMI_BIN_DIR=../.build/release python3 soak.py

## Every performance target with our figure beside it, in one table (release build, ~10 minutes).
bench: build
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	cd bench && RYMI_BIN_DIR=../.build/release python3 run.py

clean:
	rm -rf .build
