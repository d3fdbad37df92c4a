#!/usr/bin/env bash
# The test command: installs and starts what the tests need (zip readers,
# PostgreSQL, moto for S3/SQS), runs the whole Rust test suite in the release
# profile, and stops whatever it started.
#
#   scripts/test.sh                      # everything
#   scripts/test.sh -p aao-export-core   # extra arguments go to the test runner
#
# With cargo-nextest: `cargo nextest run --workspace --cargo-profile release
# --locked -j 2 ARGS`, then the doctests (`cargo test --doc`) when no ARGS
# are given. Without it: `cargo test --workspace --release --locked ARGS`.
# AAO_TEST_RUNNER=cargo forces plain `cargo test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

AAO_SERVICES_LIB_ONLY=1
# shellcheck source=scripts/services.sh
source scripts/services.sh

trap 'aao_services_down' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

aao_services_up || { _aao_err "could not set up the test services"; exit 1; }
export AAO_REQUIRE_EXTERNAL=1
export AAO_CHECK_ZIP="$PWD/scripts/check-zip.sh"

# --workspace would override -p/--package; leave it out when a package is named.
scope=(--workspace)
for a in "$@"; do
    case "$a" in
        -p|--package|-p?*|--package=*) scope=() ;;
        --) break ;;
    esac
done

status=0
if [ "${AAO_TEST_RUNNER:-}" != cargo ] && cargo nextest --version >/dev/null 2>&1; then
    cmd=(cargo nextest run "${scope[@]}" --cargo-profile release --locked -j 2 "$@")
    _aao_say "${cmd[*]}"
    "${cmd[@]}" || status=$?
    # nextest does not run doctests; run them for a full (argument-free) run.
    if [ "$status" -eq 0 ] && [ "$#" -eq 0 ]; then
        _aao_say "cargo test --workspace --release --locked --doc"
        RUST_TEST_THREADS=2 cargo test --workspace --release --locked --doc || status=$?
    fi
else
    cmd=(cargo test "${scope[@]}" --release --locked "$@")
    _aao_say "${cmd[*]} (RUST_TEST_THREADS=2)"
    RUST_TEST_THREADS=2 "${cmd[@]}" || status=$?
fi

if [ "$status" -eq 0 ]; then _aao_say "tests passed"; else _aao_err "tests failed (exit $status)"; fi
exit "$status"
