#!/usr/bin/env bash
# The test command: checks formatting and lints first (fast failures), installs
# and starts what the tests need (zip readers, PostgreSQL, moto for S3/SQS),
# runs the whole Rust test suite in the release profile, stops whatever it
# started, and ends with one summary line: `N passed, N failed, N skipped`.
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

passed=0 failed=0 skipped=0
summary() { echo "$passed passed, $failed failed, $skipped skipped"; }

# Formatting and lints first: they take seconds and fail fast. Skipped when a
# subset of tests is asked for.
if [ "$#" -eq 0 ]; then
    _aao_say "cargo fmt --all --check"
    if ! cargo fmt --all --check; then
        _aao_err "formatting differs: run cargo fmt --all"; failed=$((failed + 1)); summary; exit 1
    fi
    _aao_say "cargo clippy --workspace --all-targets --locked -- -D warnings"
    if ! cargo clippy --workspace --all-targets --locked -- -D warnings; then
        _aao_err "clippy found problems"; failed=$((failed + 1)); summary; exit 1
    fi
fi

log=$(mktemp)
trap 'rm -f "$log"; aao_services_down' EXIT

# Adds the counts a test runner printed to the totals.
count() {
    local line p f s
    line=$(python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
p = f = s = 0
if sys.argv[2] == "nextest":
    m = re.findall(r"Summary \[.*?\] +\d+(?:/\d+)? tests? run: (.*)", text)
    if m:
        last = m[-1]
        grab = lambda word: sum(int(n) for n in re.findall(r"(\d+) " + word, last))
        p, f, s = grab("passed"), grab("failed") + grab("timed out"), grab("skipped")
else:
    for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text):
        p, f, s = p + int(m[1]), f + int(m[2]), s + int(m[3])
print(p, f, s)
PY
)
    read -r p f s <<<"$line"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

status=0
if [ "${AAO_TEST_RUNNER:-}" != cargo ] && cargo nextest --version >/dev/null 2>&1; then
    cmd=(cargo nextest run "${scope[@]}" --cargo-profile release --locked -j 2 --no-fail-fast "$@")
    _aao_say "${cmd[*]}"
    "${cmd[@]}" 2>&1 | tee "$log" || status=$?
    count "$log" nextest
    # nextest does not run doctests; run them for a full (argument-free) run.
    if [ "$status" -eq 0 ] && [ "$#" -eq 0 ]; then
        _aao_say "cargo test --workspace --release --locked --doc"
        RUST_TEST_THREADS=2 cargo test --workspace --release --locked --doc 2>&1 | tee "$log" || status=$?
        count "$log" cargo
    fi
else
    cmd=(cargo test "${scope[@]}" --release --locked "$@")
    _aao_say "${cmd[*]} (RUST_TEST_THREADS=2)"
    RUST_TEST_THREADS=2 "${cmd[@]}" 2>&1 | tee "$log" || status=$?
    count "$log" cargo
fi
# A build that failed before any test ran still fails the run.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi

# The browser tests, for a full (argument-free) run.
if [ "$#" -eq 0 ]; then
    ui_status=0
    bash scripts/ui-test.sh 2>&1 | tee "$log" || ui_status=$?
    p=0 f=0 s=0
    read -r p f s < <(sed -n 's/^ui: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$log" | tail -1) || true
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
    if [ "$ui_status" -ne 0 ]; then
        [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
        status=$ui_status
    fi
fi

if [ "$status" -eq 0 ]; then _aao_say "tests passed"; else _aao_err "tests failed (exit $status)"; fi
summary
exit "$status"
