#!/usr/bin/env bash
# `make test`: builds, starts a private test stack (its own ports and data, see
# STACK_PROFILE=test in scripts/stack.sh), runs every test including those that need
# the stack, and stops the stack again.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_PROFILE=test

# Kubernetes manifests and Dockerfiles, offline (fast; fails the run like any test).
scripts/check-kubernetes.sh

cargo build --release -j2 --workspace --bins --tests

# Start from empty data so leftovers of an aborted run cannot skew the counts.
scripts/stack.sh down >/dev/null
rm -rf run/test/data
trap 'scripts/stack.sh down' EXIT
scripts/stack.sh up
set -a
eval "$(scripts/stack.sh env)"
set +a
if [ -n "${FAILURE_TESTS:-}" ]; then
  # make test-failures: the tests that break the stack on purpose, one at a time.
  cargo test --release -j2 -p e2e --features failure-tests --test failures -- --include-ignored --test-threads 1
else
  cargo test --release -j2 --workspace --no-fail-fast -- --include-ignored
fi
