#!/usr/bin/env bash
# The browser tests: installs Debian's Chromium and the npm test packages when missing, builds
# the release binary, and runs Playwright (tests/ui) against it on loopback. Prints the counts as
# `ui: N passed, N failed, N skipped` for scripts/test.sh to add up. Screenshots of every page
# the tests visit land in target/ui-screenshots/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '==> %s\n' "$*" >&2; }

if [ ! -x /usr/bin/chromium ]; then
    say "installing chromium (apt)"
    if command -v sudo >/dev/null 2>&1 && [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null \
        || { $SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null; }
fi
if [ ! -d tests/ui/node_modules/@playwright/test ] || [ ! -d tests/ui/node_modules/oidc-provider ]; then
    say "installing the npm test packages (npm ci)"
    (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# The same targets as the Rust test build (tests included), so after it this builds nothing: `-p
# aao-export` alone resolves features differently and recompiled for two minutes in CI.
say "cargo build --release --locked --workspace --tests"
cargo build --release --locked --workspace --tests
rm -rf target/ui-screenshots target/ui-results.json
say "playwright test (tests/ui)"
status=0
(cd tests/ui && npx playwright test) || status=$?
python3 - <<'PY'
import json, os
path = "target/ui-results.json"
s = json.load(open(path)).get("stats", {}) if os.path.exists(path) else {}
passed = s.get("expected", 0) + s.get("flaky", 0)
failed = s.get("unexpected", 0) or (0 if s else 1)
print(f"ui: {passed} passed, {failed} failed, {s.get('skipped', 0)} skipped")
PY
exit "$status"
