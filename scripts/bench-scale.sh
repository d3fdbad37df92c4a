#!/usr/bin/env bash
# The benchmark of issue 16 ("At Ad Observatory scale"), reported in BENCHMARKS.md.
#
#   bash scripts/bench-scale.sh ADS          (e.g. 200000 or 1000000)
#
# For each backend (SQLite, then PostgreSQL on 127.0.0.1:5432): a fresh catalogue of ADS ads,
# built quickly: `demo-data` writes and indexes BASE ads (one image each), and
# `clone_catalogue` copies them in SQL with new ids, keys and earlier times (crates/db/examples).
# Then it measures:
#   0. `aao-export index` of a bucket of INDEX_ADS RDOs (written once by `demo-data --no-index
#      --images-per-ad 0`, kept in $BENCH_DIR/bucket-INDEX_ADS) into an empty catalogue, then
#      again with nothing changed (wall time, peak RSS);
#   1. POST /exports/preview for each query shape of issue 16 against `aao-export api`: RUNS
#      requests each (after 3 warm-up ones), curl's time_total, median and p95, and whether the
#      last answer counted exactly or estimated (out of EXPORT_PREVIEW_BUDGET_MS);
#   2. the export of everything without images (5 fields), wall time and peak RSS (/usr/bin/time);
#   3. the catalogue's size per ad (the SQLite file; PostgreSQL's pg_total_relation_size of the
#      catalogue's tables).
# Prints a summary and writes it to $BENCH_DIR/results-ADS.md. Talks to nothing but loopback.
#
# Knobs (environment): AAO_BENCH_DIR (default /tmp/aao-bench-scale), BASE (5000), RUNS (20),
# INDEX_ADS (ADS; 0 skips step 0),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/aao_bench_scale; dropped and made again),
# BACKENDS ("sqlite postgres"), SKIP_BUILD=1 (use the binaries in target/release),
# KEEP_CATALOGUE=1 (measure the catalogue of ADS ads the last run built, if any, instead of
# building it again; with INDEX_ADS=0, since step 0 starts from an empty database).
set -euo pipefail

ADS=${1:?usage: bench-scale.sh ADS}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BENCH_DIR=${AAO_BENCH_DIR:-/tmp/aao-bench-scale}
BASE=${BASE:-5000}
RUNS=${RUNS:-20}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/aao_bench_scale}
BACKENDS=${BACKENDS:-sqlite postgres}
INDEX_ADS=${INDEX_ADS:-$ADS}
PORT=18391
BIN=$REPO/target/release/aao-export
CLONE=$REPO/target/release/examples/clone_catalogue
RESULTS=$BENCH_DIR/results-$ADS.md

case "$BENCH_DIR" in "$REPO"|"$REPO"/*) echo "AAO_BENCH_DIR must be outside the repository" >&2; exit 1 ;; esac
for tool in curl python3 psql /usr/bin/time; do command -v "$tool" >/dev/null || { echo "bench-scale: $tool is needed" >&2; exit 1; }; done
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$REPO" && cargo build --release --locked -p aao-export && cargo build --release --locked -p aao-export-db --example clone_catalogue)
fi
mkdir -p "$BENCH_DIR"
: > "$RESULTS"
say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
API_PID=
cleanup() { [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null || true; }
trap cleanup EXIT

# The query shapes of issue 16; the demo vocabulary's "free shipping" is in ~6% of ads, "solar" in ~8%.
SHAPES=$(cat <<'JSON'
ALL	{"method":"ALL"}
phrase (~6%)	{"method":"ANYTHING_CONTAINS","args":["free shipping"]}
word in no ad	{"method":"ANYTHING_CONTAINS","args":["quokkaburger"]}
PAGE_NAME_CONTAINS	{"method":"PAGE_NAME_CONTAINS","args":["outback"]}
OBSERVER_ID_CONTAINS	{"method":"OBSERVER_ID_CONTAINS","args":["ce37"]}
date range AND category	{"method":"AND","args":[{"method":"DATETIME_AFTER","args":["1700000000000"]},{"method":"DATETIME_BEFORE","args":["1750000000000"]},{"method":"CATEGORIES_CONTAINS","args":["political"]}]}
OR of two phrases	{"method":"OR","args":[{"method":"ANYTHING_CONTAINS","args":["free shipping"]},{"method":"ANYTHING_CONTAINS","args":["solar"]}]}
NOT a phrase	{"method":"NOT","args":[{"method":"ANYTHING_CONTAINS","args":["free shipping"]}]}
nested AND/OR/NOT of four	{"method":"AND","args":[{"method":"OR","args":[{"method":"ANYTHING_CONTAINS","args":["solar"]},{"method":"PAGE_NAME_CONTAINS","args":["outback"]}]},{"method":"NOT","args":[{"method":"ANYTHING_CONTAINS","args":["free shipping"]}]},{"method":"DATETIME_AFTER","args":["1600000000000"]}]}
JSON
)

# An empty database of $backend in $dir, migrated; DATABASE_URL names it.
fresh_database() {
    rm -rf "$dir" && mkdir -p "$dir"
    if [ "$backend" = sqlite ]; then
        export DATABASE_URL=sqlite://$dir/catalogue.db
    else
        admin=${PG_URL%/*}/postgres
        name=${PG_URL##*/}
        psql -q "$admin" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
        export DATABASE_URL=$PG_URL
    fi
    "$BIN" migrate >/dev/null
}

say "# bench-scale: $ADS ads ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
bucket=$BENCH_DIR/bucket-$INDEX_ADS
if [ "$INDEX_ADS" -gt 0 ] && [ ! -e "$bucket/.complete" ]; then
    rm -rf "$bucket" && mkdir -p "$bucket"
    DATABASE_URL=sqlite://$bucket/demo.db BUCKETS_OBSERVATIONS=$bucket/observations "$BIN" migrate >/dev/null
    DATABASE_URL=sqlite://$bucket/demo.db BUCKETS_OBSERVATIONS=$bucket/observations \
        "$BIN" demo-data --ads "$INDEX_ADS" --images-per-ad 0 --no-index --seed 2 > "$bucket/demo-data.out"
    touch "$bucket/.complete"
fi
for backend in $BACKENDS; do
    dir=$BENCH_DIR/$backend
    export EXPORT_LOCAL_DIR=$dir/exports SERVER_BIND=127.0.0.1:$PORT
    # One user asks for every preview here: the per-user limit would pace the benchmark.
    export EXPORT_PREVIEW_LIMIT=1000000
    if [ "$INDEX_ADS" -gt 0 ]; then
        fresh_database
        export BUCKETS_OBSERVATIONS=$bucket/observations
        say ""
        for run in "into an empty catalogue" "again, nothing changed"; do
            /usr/bin/time -f '%e %M' -o "$dir/index.time" "$BIN" index > "$dir/index.out"
            read -r wall rss_kb < "$dir/index.time"
            say "$backend: index of $INDEX_ADS RDOs $run: $wall s ($(awk "BEGIN { printf \"%.0f\", $INDEX_ADS / $wall }") RDOs/s), peak RSS $(( rss_kb / 1000 )) MB"
        done
    fi
    export BUCKETS_OBSERVATIONS=$dir/observations
    if [ -n "${KEEP_CATALOGUE:-}" ] && [ -s "$dir/catalogue-$ADS" ]; then
        # The catalogue the last run built (migrated again, for any migration since).
        if [ "$backend" = sqlite ]; then export DATABASE_URL=sqlite://$dir/catalogue.db; else export DATABASE_URL=$PG_URL; fi
        "$BIN" migrate >/dev/null
        total=$(cat "$dir/catalogue-$ADS")
        say ""
        say "## $backend: $total ads (the catalogue of the last run)"
    else
        fresh_database
        "$BIN" demo-data --ads "$BASE" --images-per-ad 1 --seed 1 > "$dir/demo-data.out"
        base=$(sed -n 's/.*the catalogue holds \([0-9]*\) ads.*/\1/p' "$dir/demo-data.out")
        copies=$(( (ADS + base - 1) / base - 1 ))
        started=$(date +%s)
        "$CLONE" "$DATABASE_URL" "$copies" 2> "$dir/clone.log"
        total=$(( base * (copies + 1) ))
        echo "$total" > "$dir/catalogue-$ADS"
        say ""
        say "## $backend: $total ads (built in $(( $(date +%s) - started )) s)"
    fi

    key=$("$BIN" users add bench-scale --name "Bench" | tail -1)
    "$BIN" api > "$dir/api.log" 2>&1 & API_PID=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    say ""
    say "| preview ($RUNS requests) | ads | counted | median ms | p95 ms |"
    say "|---|---|---|---|---|"
    while IFS=$'\t' read -r name query; do
        body="{\"query\":$query}"
        post() { curl -s -o "$dir/preview.json" -w '%{http_code} %{time_total}\n' -H "X-API-Key: $key" -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$PORT/exports/preview"; }
        for _ in 1 2 3; do post >/dev/null; done
        times=$(for _ in $(seq 1 "$RUNS"); do post; done)
        if grep -qv '^200 ' <<<"$times"; then echo "preview $name failed: $(cat "$dir/preview.json")" >&2; exit 1; fi
        ads=$(python3 -c 'import json,sys; p = json.load(open(sys.argv[1])); print(p["ad_count"], "estimated" if p["estimated"] else "exactly", sep=" | ")' "$dir/preview.json")
        stats=$(cut -d' ' -f2 <<<"$times" | sort -n | awk '{ t[NR] = $1 * 1000 } END { i = int(NR * 0.95 + 0.999); printf "%.0f | %.0f", t[int((NR + 1) / 2)], t[i] }')
        say "| $name | $ads | $stats |"
    done <<<"$SHAPES"
    kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=

    /usr/bin/time -f '%e %M' -o "$dir/export.time" "$BIN" export --query '{"method":"ALL"}' \
        --fields observation.uuid,observer.uuid,observation.platform,observation.observed_on_device_at,tags \
        --out "$dir/all.zip" > "$dir/export.out"
    read -r wall rss_kb < "$dir/export.time"
    say ""
    say "export of everything, 5 fields, no images: $wall s ($(awk "BEGIN { printf \"%.0f\", $total / $wall }") ads/s), peak RSS $(( rss_kb / 1000 )) MB, ZIP $(( $(stat -c %s "$dir/all.zip") / 1000000 )) MB"
    rm -f "$dir/all.zip"
    if [ "$backend" = sqlite ]; then
        bytes=$(stat -c %s "$dir/catalogue.db")
    else
        bytes=$(psql -At "$PG_URL" -c "SELECT SUM(pg_total_relation_size(c)) FROM unnest(ARRAY['catalogue', 'catalogue_documents', 'catalogue_objects']::regclass[]) c")
    fi
    say "catalogue: $(( bytes / 1000000 )) MB, $(( bytes / total )) bytes per ad"
done
say ""
say "(results in $RESULTS)"
