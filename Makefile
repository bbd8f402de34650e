# Rymi Campaigns. `make run` starts the stack on loopback; `make test` runs every test.
SWIFT ?= swift
RELEASE_BIN := .build/release

.PHONY: build debug run test compose-check compose-test k8s-check fuzz mutants soak bench clean

## Release binaries into .build/release/.
build:
	$(SWIFT) build -c release

debug:
	$(SWIFT) build

## The whole stack on loopback, with a local API key printed at start.
run: build
	RYMI_BIN_DIR=$(RELEASE_BIN) scripts/run.sh

## Unit and system tests (system tests start the real executables on ephemeral ports), the
## multi-host test alone (it measures pacing across a namespace network), 10 s per fuzz target,
## the compose file in containers and the Kubernetes manifests (podman).
test: compose-check
	SWIFT=$(SWIFT) scripts/test.sh

## The fuzz targets for longer (FUZZ_SECONDS each, default 300).
fuzz:
	scripts/fuzz.sh $${FUZZ_SECONDS:-300}

## Breaks each dispatch rule of the dialing core in turn and checks its test fails (~1 minute
## after a debug build; the sources are restored after each).
mutants:
	python3 scripts/mutants.py

## Reads compose/docker-compose.yml as podman-compose does (quick; compose-test runs it for real).
compose-check:
	@podman-compose -f compose/docker-compose.yml config > /dev/null && \
		podman-compose -f compose/docker-compose.yml -f compose/production.yaml config > /dev/null && \
		echo "compose: docker-compose.yml and production.yaml read"

## The compose file in containers with podman: images built, a campaign through 3 dialers, a
## dialer killed, the manager restarted, volumes kept across down and up (about 1–3 minutes).
compose-test:
	python3 scripts/compose_test.py

## The Kubernetes manifests: both overlays rendered, validated, and the demo run with podman kube play.
k8s-check:
	python3 scripts/k8s_check.py

## Ten minutes of mixed API traffic and a running campaign (SOAK_SECONDS to change); release build.
soak: build
	cd bench && RYMI_BIN_DIR=../.build/release python3 soak.py

## Every performance target with our figure beside it, in one table (release build, ~10 minutes).
bench: build
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	cd bench && RYMI_BIN_DIR=../.build/release python3 run.py

clean:
	rm -rf .build
