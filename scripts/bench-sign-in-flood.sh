#!/usr/bin/env bash
# Issue 19 item 5, reported in BENCHMARKS.md: can a flood of sign-ins stall the worker's database
# writes on SQLite?
#
#   bash scripts/bench-sign-in-flood.sh
#
# On the embedded stack (SQLite, `serve` = API and worker in one process), in a scratch folder with
# 2,000 demo ads (one image each):
#   1. idle: 5 exports of every ad with images, one after another; each one's time from created to
#      completed (the worker writes its claim, heartbeats and result while it builds);
#   2. the same while wrk floods POST /auth/login with wrong passwords for random usernames from
#      one address (the per-address limit answers 429 after 100; every attempt is still a write);
#   3. the same from a new address per request (SERVER_TRUSTED_PROXIES=127.0.0.1, a random
#      X-Forwarded-For), so every attempt checks a password (argon2) and writes its failure row.
# Then the failed_sign_ins rows the floods left. Each flood lasts FLOOD_SECONDS (40); the exports
# start 2 s into it. Loopback only; every process it starts is stopped when it ends. Installs wrk
# (apt) if missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WORK=${AAO_BENCH_FLOOD_DIR:-/tmp/aao-bench-flood}
PORT=${PORT:-18081}
EXPORTS=${EXPORTS:-5}

command -v wrk >/dev/null || { sudo_=(); [ "$(id -u)" = 0 ] || sudo_=(sudo); "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$REPO" && cargo build --release -p aao-export --locked)
fi
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/aao-export"

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
export SERVER_BIND="127.0.0.1:$PORT" EXPORT_MAX_IN_FLIGHT=1000 RUST_LOG=warn
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN" demo-data --ads 2000 --images-per-ad 1 --seed 3 >/dev/null
KEY=$("$BIN" users add alice --name Alice | tail -n 1)
BASE="http://127.0.0.1:$PORT"

cat > flood.lua <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local spoof = os.getenv("SPOOF") == "1"
request = function()
  local name = string.format("nobody-%08x", math.random(0, 0x7fffffff))
  if spoof then
    wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  end
  return wrk.format(nil, "/auth/login", nil, '{"username":"' .. name .. '","password":"wrong-password"}')
end
LUA

start() {
    "$BIN" serve > serve.out 2> serve.log & PIDS+=($!)
    for _ in $(seq 1 200); do curl -sf "$BASE/healthz" >/dev/null && return 0; sleep 0.05; done
    echo "serve did not start" >&2; cat serve.log >&2; exit 1
}
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }

# Creates EXPORTS exports one after another; prints each one's seconds from the POST to seeing it
# completed (polled every 0.1 s).
exports_in_turn() {
    for _ in $(seq 1 "$EXPORTS"); do
        local id times started
        started=$(date +%s.%N)
        id=$(curl -sf -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
            -d '{"query":{"method":"ALL"},"include_images":true}' "$BASE/exports" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["export"]["export_id"])')
        for _ in $(seq 1 1200); do
            times=$(curl -sf -H "X-API-Key: $KEY" "$BASE/exports/$id" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d["status"] in ("completed", "failed"):
    print(d["status"], d.get("ad_count"), "ads")
') || true
            [ -n "$times" ] && break
            sleep 0.1
        done
        echo "  export $id: ${times:-did not finish in 120 s} in $(python3 -c "import sys; print(round($(date +%s.%N) - $started, 2))") s"
    done
}

run() { # label, then wrk's environment
    local label=$1; shift
    echo "== $label"
    if [ "$#" -gt 0 ]; then
        env "$@" wrk -t1 -c32 -d"${FLOOD_SECONDS:-40}s" --latency -s flood.lua "$BASE/auth/login" > "wrk-$label.txt" 2>&1 & local flood=$!
        sleep 2
    fi
    exports_in_turn
    if [ "$#" -gt 0 ]; then
        wait "$flood" 2>/dev/null || true
        awk '/Requests\/sec|Non-2xx|requests in|^ +50%|^ +99%/' "wrk-$label.txt" | sed 's/^/  wrk: /'
    fi
}

start
run idle
run one-address SPOOF=0
stop
export SERVER_TRUSTED_PROXIES=127.0.0.1
start
run many-addresses SPOOF=1
stop
python3 - data/aao-export.db <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("== failed_sign_ins rows after the floods (each expires after its window; upkeep purges them):",
      db.execute("select count(*) from failed_sign_ins").fetchone()[0])
PY
