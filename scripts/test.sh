#!/usr/bin/env bash
# `make test`: builds, starts a private test stack (its own ports and data, see
# STACK_PROFILE=test in scripts/stack.sh), runs every test including those that need
# the stack, and stops the stack again.
#
# Two phases on the same stack: first the unit and integration tests (in parallel),
# then the failure tests, one at a time, since each breaks the stack on purpose (kills
# workers, stops brokers and stores) and restores it. FAILURE_TESTS=only (make
# test-failures) runs the second phase alone. Both phases run even when the first
# fails; the exit code is non-zero when either did.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_PROFILE=test
ONLY_FAILURES=$([ "${FAILURE_TESTS:-}" = only ] && echo 1 || true)

if [ -z "$ONLY_FAILURES" ]; then
  # Kubernetes manifests and Dockerfiles, offline (fast; fails the run like any test).
  scripts/check-kubernetes.sh
fi

cargo build --release -j2 --workspace --bins --tests
cargo test --release -j2 -p e2e --features failure-tests --test failures --no-run

# Start from empty data so leftovers of an aborted run cannot skew the counts.
scripts/stack.sh down >/dev/null
rm -rf run/test/data
trap 'scripts/stack.sh down' EXIT
scripts/stack.sh up
set -a
eval "$(scripts/stack.sh env)"
set +a

failed=()
timings=()
# phase NAME COMMAND...: runs a test phase, records its time and whether it failed.
phase() {
  local name=$1 start=$SECONDS; shift
  printf '==> %s\n' "$name"
  "$@" || failed+=("$name")
  timings+=("$(printf '%-16s %4ds' "$name" $((SECONDS - start)))")
}
if [ -z "$ONLY_FAILURES" ]; then
  phase "tests" cargo test --release -j2 --workspace --no-fail-fast -- --include-ignored
fi
phase "failure tests" cargo test --release -j2 -p e2e --features failure-tests --test failures \
  -- --include-ignored --test-threads 1
printf '==> %s\n' "${timings[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  printf '==> FAILED: %s\n' "${failed[*]}" >&2
  exit 1
fi
