#!/usr/bin/env bash
# The benchmark of issue 2 ("Speed and memory"), reported in BENCHMARKS.md.
#
#   bash scripts/bench.sh
#
# Builds the release binary, generates demo data once into a bench folder
# outside the repository, then measures:
#   1. export ALL without images, default fields: 5 runs, ads/s (whole process,
#      wall time from /usr/bin/time, is the headline) and peak RSS;
#   2. export ALL with images against `zip -0 -r -q` storing the same image
#      files (hard links), 3 runs each, alternating, page cache warm for both;
#   3. peak RSS of a small export (one observer's ads, with images).
# Prints a summary (each figure beside its target) and writes it to
# $BENCH_DIR/results.md. Talks to nothing but local files; installs only `zip`
# (apt) when it is missing.
#
# Knobs (environment):
#   AAO_BENCH_DIR    bench folder (default /tmp/aao-bench; never inside the repo)
#   ADS              demo ads to generate (default 20000)
#   IMAGES_PER_AD    each ad gets 1..IMAGES_PER_AD images (default 3)
#   RUNS_NO_IMAGES   runs of the export without images (default 5)
#   RUNS_IMAGES      runs of each of aao-export and zip with images (default 3)
#   LOAD_MAX         wait before a measurement while the 1-minute load average
#                    is above this... (default 1.5)
#   BUSY_MAX         ...and other processes use more than this many cores,
#                    sampled over 2 s (default 0.3)
#   LOAD_WAIT        longest wait for a quiet machine per measurement, s (default 60)
#   LOAD_WAIT_TOTAL  longest total wait, s (default 180)
#   POLLUTED_MAX     a run during which other processes used more than this many
#                    cores is repeated once (default 0.5)
#   RUN_TIMEOUT      longest single run, s (default 300)
#   BENCH_BUDGET     after this many seconds since the start, no more waiting
#                    for a quiet machine and no repeated runs (default 540)
#   SKIP_BUILD=1     use the binary already in target/release
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BENCH_DIR=${AAO_BENCH_DIR:-/tmp/aao-bench}
ADS=${ADS:-20000}
IMAGES_PER_AD=${IMAGES_PER_AD:-3}
SEED=7
RUNS_NO_IMAGES=${RUNS_NO_IMAGES:-5}
RUNS_IMAGES=${RUNS_IMAGES:-3}
LOAD_MAX=${LOAD_MAX:-1.5}
BUSY_MAX=${BUSY_MAX:-0.3}
LOAD_WAIT=${LOAD_WAIT:-60}
LOAD_WAIT_TOTAL=${LOAD_WAIT_TOTAL:-180}
POLLUTED_MAX=${POLLUTED_MAX:-0.5}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
BENCH_BUDGET=${BENCH_BUDGET:-540}

# Targets of issue 2.
TARGET_ADS_PER_S=20000
TARGET_RATIO=1.2
TARGET_RSS_MB=150 # 1 MB = 10^6 bytes

log() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
# (The parentheses keep awk from reading `>` as an output redirection.)
calc() { awk "BEGIN { printf \"%s\", ($*) }" </dev/null; }
# calc_fmt FORMAT EXPR
calc_fmt() { awk -v f="$1" "BEGIN { printf f, ($2) }" </dev/null; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
minimum() { printf '%s\n' "$@" | sort -g | head -n 1; }
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }
kb_to_mb() { calc_fmt '%.1f' "$1 * 1024 / 1000000"; }
verdict() { if [ "$(calc "($1) ? 1 : 0")" = 1 ]; then echo PASS; else echo MISS; fi; }
avail_bytes() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }
human() { if [ "$1" -ge 1000000000 ]; then calc_fmt '%.2f GB' "$1 / 1000000000"; else calc_fmt '%.1f MB' "$1 / 1000000"; fi; }

# ---------------------------------------------------------------- preflight
command -v cargo >/dev/null || die "cargo is needed to build the binary"
command -v python3 >/dev/null || die "python3 is needed (catalogue reading, ZIP checks)"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is needed for wall time and peak RSS"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"
if ! command -v zip >/dev/null; then
    log "installing zip (Info-ZIP) from apt..."
    sudo_=()
    [ "$(id -u)" = 0 ] || sudo_=(sudo)
    "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q zip >/dev/null \
        || { "${sudo_[@]}" apt-get update -q >/dev/null && "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q zip >/dev/null; } \
        || die "could not install zip"
fi

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd -P)
case "$BENCH_DIR/" in
    "$REPO/"*) die "the bench folder $BENCH_DIR is inside the repository $REPO; set AAO_BENCH_DIR elsewhere" ;;
    /) die "refusing to use / as the bench folder" ;;
esac

CLK_TCK=$(getconf CLK_TCK)
SCRATCH="$BENCH_DIR/.scratch"
mkdir -p "$SCRATCH"
OUT="$BENCH_DIR/bench-out.txt"
: > "$OUT"
# Everything printed also goes to bench-out.txt.
exec > >(tee -a "$OUT") 2>&1

BIN="$BENCH_DIR/aao-export"
AAO_ZIP="$BENCH_DIR/aao-export-run.zip"
INFOZIP_ZIP="$BENCH_DIR/infozip-run.zip"
cleanup() { rm -f "$AAO_ZIP" "$INFOZIP_ZIP" "$BENCH_DIR"/aao-small.zip "$BENCH_DIR"/aao-noimages.zip; rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "== aao-export benchmark (issue 2, speed and memory)"
log "bench folder: $BENCH_DIR"
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MACHINE="$(nproc) cores, $CPU_MODEL, $(free -g | awk '/^Mem:/ { print $2 " GB RAM (" $7 " GB available)" }'), $(uname -sr)"
log "machine: $MACHINE"
log "$(free -g)"

# ---------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "== building the release binary"
    (cd "$REPO" && cargo build --release -p aao-export --locked)
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
[ -x "$TARGET_DIR/release/aao-export" ] || die "no binary at $TARGET_DIR/release/aao-export"
# A private copy, so a rebuild by someone else during the run changes nothing.
cp -f "$TARGET_DIR/release/aao-export" "$BIN"
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
log "binary built from commit $COMMIT"

cd "$BENCH_DIR"
# The CLI's defaults, relative to the bench folder, whatever the caller's environment says.
export DATABASE_URL=sqlite://data/aao-export.db
export BUCKETS_OBSERVATIONS=data/observations
unset RUST_LOG AWS_ENDPOINT_URL || true

# ---------------------------------------------------------------- machine quietness
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# Cores used by other processes over 2 s (nothing of ours runs meanwhile).
busy_sample() {
    local b0 b1
    b0=$(busy_jiffies); sleep 2; b1=$(busy_jiffies)
    calc_fmt '%.2f' "($b1 - $b0) / $CLK_TCK / 2"
}
WAITED_TOTAL=0
QUIET_NOTE=""
# wait_quiet LABEL: logs `uptime` and waits (bounded) for a quiet machine.
# The 1-minute load average lags and includes our own previous runs, so a
# low instantaneous CPU use by others is accepted as quiet too.
wait_quiet() {
    local label=$1 waited=0 load busy
    while :; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        busy=$(busy_sample)
        log "   [$label] uptime:$(uptime | sed 's/.*up [^,]*,[^,]*,//') | others' CPU over 2 s: $busy cores"
        QUIET_NOTE="load $load, others $busy"
        if [ "$(calc "$load <= $LOAD_MAX || $busy <= $BUSY_MAX")" = 1 ]; then return 0; fi
        if [ "$waited" -ge "$LOAD_WAIT" ] || [ "$WAITED_TOTAL" -ge "$LOAD_WAIT_TOTAL" ] || [ "$SECONDS" -ge "$BENCH_BUDGET" ]; then
            log "   [$label] machine still busy, measuring anyway"
            QUIET_NOTE="$QUIET_NOTE, BUSY"
            return 0
        fi
        sleep 8
        waited=$((waited + 10)); WAITED_TOTAL=$((WAITED_TOTAL + 10))
    done
}

# run_timed LABEL OUTPUT_TO_DELETE_FIRST CMD...: one timed run (whole process,
# /usr/bin/time), repeated once if other processes used more than POLLUTED_MAX
# cores during it. Sets R_WALL R_RSS_KB R_CPU R_USER R_SYS R_OTHERS R_NOTE R_STDOUT.
R_STDOUT="$SCRATCH/stdout"
run_timed() {
    local label=$1 output=$2 attempt b0 b1
    shift 2
    for attempt in 1 2; do
        rm -f "$output"
        sync
        wait_quiet "$label"
        b0=$(busy_jiffies)
        if ! timeout "$RUN_TIMEOUT" /usr/bin/time -f '%e %M %U %S' -o "$SCRATCH/time" "$@" >"$R_STDOUT" 2>"$SCRATCH/stderr"; then
            cat "$SCRATCH/stderr" "$SCRATCH/time" >&2 || true
            die "$label failed: $*"
        fi
        b1=$(busy_jiffies)
        read -r R_WALL R_RSS_KB R_USER R_SYS < <(tail -n 1 "$SCRATCH/time")
        R_CPU=$(calc_fmt '%.2f' "$R_USER + $R_SYS")
        R_OTHERS=$(calc_fmt '%.2f' "(($b1 - $b0) / $CLK_TCK - $R_CPU) / ($R_WALL > 0.01 ? $R_WALL : 0.01)")
        [ "$(calc "$R_OTHERS < 0")" = 1 ] && R_OTHERS=0.00
        # /proc/stat counts in 1/CLK_TCK s: too coarse to judge runs shorter than 1 s.
        if [ "$(calc "$R_WALL < 1")" = 1 ]; then
            R_NOTE="$QUIET_NOTE; run too short to measure others"
            return 0
        fi
        R_NOTE="$QUIET_NOTE; others during run $R_OTHERS cores"
        if [ "$(calc "$R_OTHERS > $POLLUTED_MAX")" = 1 ] && [ "$attempt" = 1 ] && [ "$SECONDS" -lt "$BENCH_BUDGET" ]; then
            log "   [$label] other processes used $R_OTHERS cores during the run (${R_WALL} s); running it again"
            continue
        fi
        [ "$(calc "$R_OTHERS > $POLLUTED_MAX")" = 1 ] && R_NOTE="$R_NOTE, POLLUTED"
        return 0
    done
}

# ---------------------------------------------------------------- demo data
PARAMS="ads=$ADS images_per_ad=$IMAGES_PER_AD seed=$SEED generator=$(cat "$REPO"/crates/demo/src/*.rs | sha256sum | cut -c1-16)"
MARKER="$BENCH_DIR/data/.bench-params"
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$PARAMS" ] && [ -f data/aao-export.db ] && [ -d data/observations ]; then
    log "== reusing demo data ($PARAMS)"
else
    need=$((ADS * (IMAGES_PER_AD + 1) / 2 * 120000 + ADS * 20000 + 1000000000))
    rm -rf data
    [ "$(avail_bytes "$BENCH_DIR")" -gt "$need" ] || die "not enough disk in $BENCH_DIR for the demo data: need about $(human "$need"), have $(human "$(avail_bytes "$BENCH_DIR")")"
    log "== generating demo data ($PARAMS)"
    timeout "$RUN_TIMEOUT" "$BIN" demo-data --ads "$ADS" --images-per-ad "$IMAGES_PER_AD" --seed "$SEED"
    printf '%s' "$PARAMS" > "$MARKER"
fi

# The catalogue, read independently of aao-export: the image files an export of
# ALL includes (media keys of the ads it exports, files that exist), a folder
# of hard links to them for zip, and the smallest observer for the small export.
log "== reading the catalogue; hard-linking the image set for zip"
rm -rf "$BENCH_DIR/zipset"
python3 - "$BENCH_DIR" > "$SCRATCH/catalogue" <<'PY'
import json, os, sqlite3, sys
bench = sys.argv[1]
root = os.path.join(bench, "data", "observations")
dest = os.path.join(bench, "zipset")
db = sqlite3.connect(os.path.join(bench, "data", "aao-export.db"))
ads = images = total = missing = dup = 0
seen = set()
observers = {}
with open(os.path.join(bench, ".scratch", "images.lst"), "wb") as lst:
    for observer_id, rdo in db.execute("SELECT observer_id, rdo FROM observations"):
        doc = json.loads(rdo)
        if doc.get("is_user_disabled") is True:
            continue  # never exported
        ads += 1
        observers[observer_id] = observers.get(observer_id, 0) + 1
        for key in doc.get("media") or []:
            if not isinstance(key, str):
                continue
            src = os.path.join(root, key)
            if not os.path.isfile(src):
                missing += 1
                continue
            if key in seen:
                dup += 1
                continue
            seen.add(key)
            target = os.path.join(dest, key)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.link(src, target)
            lst.write(src.encode() + b"\0")
            images += 1
            total += os.path.getsize(src)
# The smallest observer: its activation code is the first 8 hex characters.
code, _ = min(((o[:8], n) for o, n in observers.items()), key=lambda p: p[1])
small_ads = 0
for (rdo,) in db.execute("SELECT rdo FROM observations WHERE instr(observer_id, ?) > 0", (code,)):
    if json.loads(rdo).get("is_user_disabled") is not True:
        small_ads += 1
print(ads, images, total, missing, dup, code, small_ads)
PY
read -r CAT_ADS CAT_IMAGES CAT_IMAGE_BYTES CAT_MISSING CAT_DUP SMALL_CODE SMALL_ADS < "$SCRATCH/catalogue"
log "   catalogue: $CAT_ADS ads to export, $CAT_IMAGES image files ($(human "$CAT_IMAGE_BYTES")), $CAT_MISSING missing, $CAT_DUP shared keys"
log "   small export: observer code $SMALL_CODE ($SMALL_ADS ads)"
[ "$CAT_DUP" = 0 ] || log "   note: $CAT_DUP media keys appear in several ads; zip stores them once, aao-export once per ad"

# ---------------------------------------------------------------- 1. without images
log ""
log "== 1. export ALL without images, default fields ($RUNS_NO_IMAGES runs, one untimed warm-up)"
"$BIN" export --query '{"method":"ALL"}' --out "$BENCH_DIR/aao-noimages.zip" >/dev/null
NI_WALL=() NI_CPU=() NI_PRINTED_S=() NI_PRINTED_RATE=() NI_RATE=() NI_RSS=() NI_NOTES=()
NI_ADS="" NI_SIZE=""
for i in $(seq 1 "$RUNS_NO_IMAGES"); do
    run_timed "no images $i/$RUNS_NO_IMAGES" "$BENCH_DIR/aao-noimages.zip" \
        "$BIN" export --query '{"method":"ALL"}' --out "$BENCH_DIR/aao-noimages.zip"
    line=$(grep '^wrote ' "$R_STDOUT" | tail -n 1)
    # wrote FILE: N ads, M images, SIZE in T s (R ads/s)
    ads=$(sed -E 's/^wrote .*: ([0-9]+) ads, .*/\1/' <<<"$line")
    pt=$(sed -E 's/.* in ([0-9.]+) s \(([0-9.]+) ads\/s\).*/\1/' <<<"$line")
    pr=$(sed -E 's/.* in ([0-9.]+) s \(([0-9.]+) ads\/s\).*/\2/' <<<"$line")
    rate=$(calc_fmt '%.0f' "$ads / ($R_WALL > 0.01 ? $R_WALL : 0.01)")
    NI_ADS=$ads
    NI_SIZE=$(stat -c %s "$BENCH_DIR/aao-noimages.zip")
    NI_CPU+=("${R_USER}+${R_SYS}"); NI_WALL+=("$R_WALL"); NI_PRINTED_S+=("$pt"); NI_PRINTED_RATE+=("$pr"); NI_RATE+=("$rate"); NI_RSS+=("$R_RSS_KB"); NI_NOTES+=("$R_NOTE")
    log "   run $i: $line | whole process: ${R_WALL} s, $rate ads/s, CPU ${R_CPU} s (user $R_USER, sys $R_SYS), peak RSS $(kb_to_mb "$R_RSS_KB") MB ($R_NOTE)"
done
rm -f "$BENCH_DIR/aao-noimages.zip"
[ "$NI_ADS" = "$CAT_ADS" ] || log "   WARNING: the export wrote $NI_ADS ads, the catalogue has $CAT_ADS to export"
NI_RATE_MED=$(median "${NI_RATE[@]}"); NI_RATE_BEST=$(maximum "${NI_RATE[@]}")
NI_PR_MED=$(median "${NI_PRINTED_RATE[@]}"); NI_PR_BEST=$(maximum "${NI_PRINTED_RATE[@]}")
NI_WALL_MED=$(median "${NI_WALL[@]}"); NI_PT_MED=$(median "${NI_PRINTED_S[@]}")
NI_RSS_MAX=$(maximum "${NI_RSS[@]}")

# ---------------------------------------------------------------- 2. with images vs zip
log ""
log "== 2. export ALL with images vs zip -0 -r -q of the same $CAT_IMAGES files ($RUNS_IMAGES runs each, alternating)"
# At most one big ZIP exists at a time (each is deleted before the next run).
need=$((CAT_IMAGE_BYTES + CAT_IMAGE_BYTES / 10 + 1000000000))
have=$(avail_bytes "$BENCH_DIR")
log "   disk: $(human "$have") free in $BENCH_DIR, need about $(human "$need")"
[ "$have" -gt "$need" ] || die "not enough disk for the image runs"
log "   warming the page cache (untimed read of every image file)"
xargs -0 cat < "$SCRATCH/images.lst" > /dev/null
cat data/aao-export.db > /dev/null
IM_AAO=() IM_ZIP=() IM_AAO_CPU=() IM_ZIP_CPU=() IM_AAO_RSS=() IM_ZIP_RSS=() IM_AAO_PRINTED=() IM_AAO_NOTES=() IM_ZIP_NOTES=()
IM_AAO_SIZE="" IM_ZIP_SIZE="" IM_CHECK=""
for i in $(seq 1 "$RUNS_IMAGES"); do
    rm -f "$INFOZIP_ZIP"
    run_timed "aao-export images $i/$RUNS_IMAGES" "$AAO_ZIP" \
        "$BIN" export --query '{"method":"ALL"}' --include-images --out "$AAO_ZIP"
    line=$(grep '^wrote ' "$R_STDOUT" | tail -n 1)
    IM_AAO+=("$R_WALL"); IM_AAO_RSS+=("$R_RSS_KB"); IM_AAO_NOTES+=("$R_NOTE"); IM_AAO_CPU+=("${R_USER}+${R_SYS}")
    IM_AAO_PRINTED+=("$(sed -E 's/.* in ([0-9.]+) s \(.*/\1/' <<<"$line")")
    IM_AAO_SIZE=$(stat -c %s "$AAO_ZIP")
    log "   aao-export run $i: $line | whole process ${R_WALL} s, CPU ${R_CPU} s (user $R_USER, sys $R_SYS), peak RSS $(kb_to_mb "$R_RSS_KB") MB ($R_NOTE)"
    if [ "$i" = 1 ]; then
        # Same files? Compare the archive's image entries with the list zip gets.
        IM_CHECK=$(python3 - "$AAO_ZIP" "$CAT_IMAGES" "$CAT_IMAGE_BYTES" <<'PY'
import re, sys, zipfile
path, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
z = zipfile.ZipFile(path)
imgs = [i for i in z.infolist() if re.fullmatch(r"ads/[^/]+/image_\d+\.[^/]+", i.filename)]
n, b = len(imgs), sum(i.file_size for i in imgs)
stored = all(i.compress_type == zipfile.ZIP_STORED for i in imgs)
ok = n == count and b == size and stored
print(f"{'same image set' if ok else 'MISMATCH'}: {n} image entries, {b} bytes, stored={stored}; zip gets {count} files, {size} bytes; {len(z.infolist())} entries in all")
PY
)
        log "   check: $IM_CHECK"
    fi
    rm -f "$AAO_ZIP"
    run_timed "zip images $i/$RUNS_IMAGES" "$INFOZIP_ZIP" \
        bash -c 'cd "$1" && exec zip -0 -r -q "$2" .' _ "$BENCH_DIR/zipset" "$INFOZIP_ZIP"
    IM_ZIP+=("$R_WALL"); IM_ZIP_RSS+=("$R_RSS_KB"); IM_ZIP_NOTES+=("$R_NOTE"); IM_ZIP_CPU+=("${R_USER}+${R_SYS}")
    IM_ZIP_SIZE=$(stat -c %s "$INFOZIP_ZIP")
    log "   zip run $i: ${R_WALL} s, $(human "$IM_ZIP_SIZE"), CPU ${R_CPU} s (user $R_USER, sys $R_SYS), peak RSS $(kb_to_mb "$R_RSS_KB") MB ($R_NOTE)"
    rm -f "$INFOZIP_ZIP"
done
IM_AAO_MED=$(median "${IM_AAO[@]}"); IM_ZIP_MED=$(median "${IM_ZIP[@]}")
IM_RATIO=$(calc_fmt '%.2f' "$IM_AAO_MED / $IM_ZIP_MED")
IM_AAO_RSS_MAX=$(maximum "${IM_AAO_RSS[@]}")
IM_AAO_MBS=$(calc_fmt '%.0f' "$CAT_IMAGE_BYTES / 1000000 / $IM_AAO_MED")
IM_ZIP_MBS=$(calc_fmt '%.0f' "$CAT_IMAGE_BYTES / 1000000 / $IM_ZIP_MED")

# ---------------------------------------------------------------- 3. small export
log ""
log "== 3. small export: OBSERVER_ID_CONTAINS \"$SMALL_CODE\" with images (3 runs)"
SMALL_RSS=() SMALL_WALL=()
SMALL_LINE=""
for i in 1 2 3; do
    run_timed "small $i/3" "$BENCH_DIR/aao-small.zip" \
        "$BIN" export --query "{\"method\":\"OBSERVER_ID_CONTAINS\",\"args\":[\"$SMALL_CODE\"]}" --include-images --out "$BENCH_DIR/aao-small.zip"
    SMALL_LINE=$(grep '^wrote ' "$R_STDOUT" | tail -n 1)
    SMALL_RSS+=("$R_RSS_KB"); SMALL_WALL+=("$R_WALL")
    log "   run $i: $SMALL_LINE | whole process ${R_WALL} s, peak RSS $(kb_to_mb "$R_RSS_KB") MB ($R_NOTE)"
done
rm -f "$BENCH_DIR/aao-small.zip"
SMALL_RSS_MAX=$(maximum "${SMALL_RSS[@]}")
SMALL_DESC=$(sed -E 's/^wrote [^:]*: //; s/ in [0-9.]+ s.*//' <<<"$SMALL_LINE")

# ---------------------------------------------------------------- summary
V_RATE=$(verdict "$NI_RATE_MED >= $TARGET_ADS_PER_S")
V_PRATE=$(verdict "$NI_PR_MED >= $TARGET_ADS_PER_S")
V_RATIO=$(verdict "$IM_RATIO <= $TARGET_RATIO")
V_RSS_SMALL=$(verdict "$SMALL_RSS_MAX * 1024 < $TARGET_RSS_MB * 1000000")
V_RSS_NI=$(verdict "$NI_RSS_MAX * 1024 < $TARGET_RSS_MB * 1000000")
V_RSS_IM=$(verdict "$IM_AAO_RSS_MAX * 1024 < $TARGET_RSS_MB * 1000000")

{
    echo "# aao-export benchmark results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- binary built from commit: $COMMIT"
    echo "- machine: $MACHINE"
    echo "- demo data: \`demo-data --ads $ADS --images-per-ad $IMAGES_PER_AD --seed $SEED\`: $CAT_ADS ads exported (withdrawn participants' ads excluded), $CAT_IMAGES images, $(human "$CAT_IMAGE_BYTES")"
    echo "- command: \`bash scripts/bench.sh\` (ADS=$ADS IMAGES_PER_AD=$IMAGES_PER_AD RUNS_NO_IMAGES=$RUNS_NO_IMAGES RUNS_IMAGES=$RUNS_IMAGES)"
    echo
    echo "| Figure | Target | Measured | Result |"
    echo "|---|---|---|---|"
    echo "| Export ALL without images, default fields: ads/s, whole process (median of $RUNS_NO_IMAGES) | ≥ $TARGET_ADS_PER_S ads/s | **$NI_RATE_MED ads/s** (best $NI_RATE_BEST; $NI_ADS ads in $NI_WALL_MED s) | $V_RATE |"
    echo "| same, as printed by aao-export (catalogue to finished ZIP, excludes process start) | ≥ $TARGET_ADS_PER_S ads/s | $NI_PR_MED ads/s (best $NI_PR_BEST; $NI_PT_MED s) | $V_PRATE |"
    echo "| Export ALL with images / \`zip -0 -r -q\` of the same files (medians of $RUNS_IMAGES) | ≤ $TARGET_RATIO | **$IM_RATIO** ($IM_AAO_MED s vs $IM_ZIP_MED s) | $V_RATIO |"
    echo "| Peak RSS, small export with images ($SMALL_DESC) | < $TARGET_RSS_MB MB | $(kb_to_mb "$SMALL_RSS_MAX") MB | $V_RSS_SMALL |"
    echo "| Peak RSS, export ALL without images ($NI_ADS ads) | < $TARGET_RSS_MB MB | $(kb_to_mb "$NI_RSS_MAX") MB | $V_RSS_NI |"
    echo "| Peak RSS, export ALL with images ($(human "$IM_AAO_SIZE") ZIP) | < $TARGET_RSS_MB MB | $(kb_to_mb "$IM_AAO_RSS_MAX") MB | $V_RSS_IM |"
    echo
    echo "Details"
    echo
    echo "- without images: whole-process wall times (s): ${NI_WALL[*]}; printed times (s): ${NI_PRINTED_S[*]}; CPU user+sys (s): ${NI_CPU[*]}; ZIP $(human "$NI_SIZE")"
    echo "- with images: aao-export wall (s): ${IM_AAO[*]} (printed: ${IM_AAO_PRINTED[*]}), CPU user+sys (s): ${IM_AAO_CPU[*]}; zip wall (s): ${IM_ZIP[*]}, CPU user+sys (s): ${IM_ZIP_CPU[*]}"
    echo "- with images: throughput of image bytes, aao-export $IM_AAO_MBS MB/s, zip $IM_ZIP_MBS MB/s; output aao-export $(human "$IM_AAO_SIZE"), zip $(human "$IM_ZIP_SIZE"); zip peak RSS $(kb_to_mb "$(maximum "${IM_ZIP_RSS[@]}")") MB"
    echo "- image set check: $IM_CHECK"
    echo "- load before/during each run (1-minute load average, CPU used by other processes):"
    for i in "${!NI_NOTES[@]}"; do echo "  - no images $((i + 1)): ${NI_NOTES[$i]}"; done
    for i in "${!IM_AAO_NOTES[@]}"; do echo "  - aao-export images $((i + 1)): ${IM_AAO_NOTES[$i]}; zip $((i + 1)): ${IM_ZIP_NOTES[$i]}"; done
    echo "- 1 MB = 10^6 bytes; peak RSS is GNU time's %M (maximum resident set size)."
} > "$BENCH_DIR/results.md"

log ""
log "== summary (also in $BENCH_DIR/results.md)"
cat "$BENCH_DIR/results.md"
