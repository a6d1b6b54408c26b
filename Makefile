# Squid Games: the two commands a user needs are `make demo` and `make test`.
# Every target installs what is missing first (scripts/install.sh).

CARGO ?= cargo
CARGO_FLAGS ?= -j2

.PHONY: demo test test-failures up down status build install bench clean images check-kubernetes

## make demo: install, build, start the local stack, play 2000 games, report.
demo: up
	scripts/demo.sh

## make test: unit tests, then integration tests against a private test stack, then the
## failure tests one at a time (kill workers, restart brokers and stores, feed duplicates
## and malformed messages: nothing lost or counted twice).
test:
	WITH_BROWSER=1 scripts/install.sh
	scripts/test.sh

## make test-failures: only the failure tests of `make test`, on a fresh test stack.
test-failures: install
	FAILURE_TESTS=only scripts/test.sh

## make up: start whatever part of the local stack is not running (idempotent).
up: install build
	scripts/stack.sh up

## make down: stop exactly what `make up` started.
down:
	scripts/stack.sh down

status:
	scripts/stack.sh status

build:
	$(CARGO) build --release $(CARGO_FLAGS) --workspace --bins

install:
	scripts/install.sh

clean: down
	rm -rf run

## make bench: throughput and latency, measured side by side in one run.
bench: install
	scripts/bench.sh

## make images: one container image per service (needs a Docker engine; REGISTRY, TAG, PUSH=1).
images:
	scripts/images.sh

## make check-kubernetes: validate kubernetes/ and the Dockerfiles offline (part of make test).
check-kubernetes:
	scripts/check-kubernetes.sh
