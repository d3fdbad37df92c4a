# shellcheck shell=bash
# Test services for aao-export: tools, PostgreSQL and a moto (S3/SQS) server; the Python tools
# venv of scripts/tools.sh (sam, cfn-lint, cargo-lambda, aiosmtpd) with its bin/ on PATH; the npm
# test packages (the tests start the oidc-provider OpenID Connect server from them).
#
# Used two ways:
#   * scripts/test.sh sources this file and calls `aao_services_up`, with
#     `trap aao_services_down EXIT`.
#   * Interactively:  `source scripts/services.sh`  installs what is missing,
#     starts what is not running and exports TEST_DATABASE_URL,
#     TEST_S3_ENDPOINT, AWS_* and AAO_REQUIRE_EXTERNAL into your shell.
#     Run `aao_services_down` when done (stops only what this file started).
#
# Knobs (environment):
#   AAO_PG_HOST / AAO_PG_PORT   PostgreSQL server (127.0.0.1 / 5432)
#   AAO_TEST_DB                 database that is dropped and recreated (aao_export_test)
#   AAO_MOTO_PORT               port for moto (default: 5000 if free, else any free port)
#   AAO_NO_INSTALL=1            never run apt-get / pip; fail instead
#
# Written without `set -e` so that sourcing it cannot kill an interactive
# shell: every step checks its own status and returns non-zero on failure.

# shellcheck source=scripts/tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

AAO_PG_HOST="${AAO_PG_HOST:-127.0.0.1}"
AAO_PG_PORT="${AAO_PG_PORT:-5432}"
AAO_TEST_DB="${AAO_TEST_DB:-aao_export_test}"

_aao_say() { printf '==> %s\n' "$*" >&2; }
_aao_err() { printf 'ERROR: %s\n' "$*" >&2; }

_aao_root() {
    # Runs a command as root (the CI runs as root; developers may have sudo).
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else _aao_err "need root to run: $*"; return 1
    fi
}

_aao_pg_server_present() {
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

_aao_apt_updated=0
_aao_apt_install() {
    # _aao_apt_install PKG... : installs the given Debian packages.
    if [ "${AAO_NO_INSTALL:-0}" = 1 ]; then
        _aao_err "missing packages ($*) and AAO_NO_INSTALL=1"; return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        _aao_err "missing packages ($*) and no apt-get; install them by hand"; return 1
    fi
    _aao_say "installing Debian packages: $*"
    local log
    log="$(mktemp "${TMPDIR:-/tmp}/aao-apt.XXXXXX")" || return 1
    if [ "$_aao_apt_updated" = 0 ]; then
        if ! _aao_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1; then
            _aao_err "apt-get update failed:"; tail -n 30 "$log" >&2; rm -f "$log"; return 1
        fi
        _aao_apt_updated=1
    fi
    if ! _aao_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "$@" >"$log" 2>&1; then
        _aao_err "apt-get install $* failed:"; tail -n 30 "$log" >&2; rm -f "$log"; return 1
    fi
    rm -f "$log"
}

aao_install_tools() {
    local missing=()
    command -v zip    >/dev/null 2>&1 || missing+=(zip)
    command -v unzip  >/dev/null 2>&1 || missing+=(unzip)
    command -v 7z     >/dev/null 2>&1 || missing+=(p7zip-full)
    command -v bsdtar >/dev/null 2>&1 || missing+=(libarchive-tools)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    _aao_pg_server_present || missing+=(postgresql)
    command -v psql   >/dev/null 2>&1 || missing+=(postgresql-client)
    if [ "${#missing[@]}" -gt 0 ]; then
        _aao_apt_install "${missing[@]}" || return 1
    fi

    if ! _aao_moto_cmd >/dev/null; then
        if [ "${AAO_NO_INSTALL:-0}" = 1 ]; then
            _aao_err "moto_server missing and AAO_NO_INSTALL=1"; return 1
        fi
        _aao_say "installing moto[server] with pip"
        if ! python3 -m pip --version >/dev/null 2>&1; then
            _aao_apt_install python3-pip || return 1
        fi
        python3 -m pip install -q --disable-pip-version-check 'moto[server]' \
            || python3 -m pip install -q --disable-pip-version-check --break-system-packages 'moto[server]' \
            || { _aao_err "pip install 'moto[server]' failed"; return 1; }
        if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
        hash -r
        _aao_moto_cmd >/dev/null || { _aao_err "moto installed but cannot be run"; return 1; }
    fi
}

_aao_moto_cmd() {
    # Prints the command that runs moto's server, or fails.
    # (A pyenv shim can exist for another Python version and then fails to run.)
    if command -v moto_server >/dev/null 2>&1 && moto_server --help >/dev/null 2>&1; then
        echo moto_server
    elif python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
        echo "python3 -m moto.server"
    else
        return 1
    fi
}

# ---------------------------------------------------------------- PostgreSQL

_aao_psql() {
    # _aao_psql DB ARGS... : psql against the test server, quiet, stop on error.
    local db="$1"; shift
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
        psql -X -q -v ON_ERROR_STOP=1 -h "$AAO_PG_HOST" -p "$AAO_PG_PORT" -U postgres -d "$db" "$@"
}

AAO_PG_STARTED_CLUSTER=""   # "VERSION NAME" of a cluster this file started
aao_start_postgres() {
    if ! pg_isready -q -h "$AAO_PG_HOST" -p "$AAO_PG_PORT" >/dev/null 2>&1; then
        command -v pg_lsclusters >/dev/null 2>&1 \
            || { _aao_err "PostgreSQL is not answering on $AAO_PG_HOST:$AAO_PG_PORT and pg_lsclusters (postgresql-common) is missing"; return 1; }
        # The Debian cluster configured for our port, if any ("VERSION NAME").
        local cluster ver name
        cluster="$(pg_lsclusters -h 2>/dev/null | awk -v p="$AAO_PG_PORT" '$3 == p { print $1, $2; exit }')"
        if [ -z "$cluster" ]; then
            ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n1)"
            [ -n "$ver" ] || { _aao_err "no PostgreSQL server installed"; return 1; }
            name=main
            [ -d "/etc/postgresql/$ver/main" ] && name=aao_test
            _aao_say "creating PostgreSQL cluster $ver/$name on port $AAO_PG_PORT (trust auth on loopback)"
            _aao_root pg_createcluster "$ver" "$name" -p "$AAO_PG_PORT" -- \
                    --auth-local=peer --auth-host=trust >/dev/null \
                || { _aao_err "pg_createcluster failed"; return 1; }
            cluster="$ver $name"
        fi
        read -r ver name <<<"$cluster"
        _aao_say "starting PostgreSQL cluster $ver/$name on port $AAO_PG_PORT"
        _aao_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start \
            || { _aao_err "pg_ctlcluster $ver $name start failed"; return 1; }
        AAO_PG_STARTED_CLUSTER="$ver $name"
        local i
        for i in $(seq 1 60); do
            pg_isready -q -h "$AAO_PG_HOST" -p "$AAO_PG_PORT" >/dev/null 2>&1 && break
            sleep 0.5
        done
        pg_isready -q -h "$AAO_PG_HOST" -p "$AAO_PG_PORT" >/dev/null 2>&1 \
            || { _aao_err "PostgreSQL did not come up on $AAO_PG_HOST:$AAO_PG_PORT"; return 1; }
    else
        _aao_say "PostgreSQL already running on $AAO_PG_HOST:$AAO_PG_PORT"
    fi

    # Authentication over TCP as postgres: trust, else password 'postgres'
    # (set through the local socket with peer auth if needed).
    unset PGPASSWORD
    if ! _aao_psql postgres -c 'SELECT 1' >/dev/null 2>&1 </dev/null; then
        export PGPASSWORD=postgres
        if ! _aao_psql postgres -c 'SELECT 1' >/dev/null 2>&1 </dev/null; then
            _aao_say "setting a password for role postgres (TCP auth is not trust)"
            _aao_root runuser -u postgres -- psql -X -q -p "$AAO_PG_PORT" -c "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null \
                || { _aao_err "cannot set postgres password via the local socket"; return 1; }
            _aao_psql postgres -c 'SELECT 1' >/dev/null </dev/null \
                || { _aao_err "cannot log in to PostgreSQL as postgres over TCP"; return 1; }
        fi
    fi

    local can_create
    can_create="$(_aao_psql postgres -At -c "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user" </dev/null)" \
        || return 1
    [ "$can_create" = t ] || { _aao_err "role postgres may not CREATE DATABASE"; return 1; }

    local trgm
    trgm="$(_aao_psql postgres -At -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'" </dev/null)" \
        || return 1
    if [ "$trgm" != 1 ]; then
        local ver; ver="$(_aao_psql postgres -At -c 'SHOW server_version_num' </dev/null)"
        _aao_apt_install "postgresql-contrib" || true
        trgm="$(_aao_psql postgres -At -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'" </dev/null)"
        [ "$trgm" = 1 ] || { _aao_err "extension pg_trgm is not available (server $ver)"; return 1; }
    fi

    _aao_say "recreating database $AAO_TEST_DB"
    if ! { _aao_psql postgres -c "DROP DATABASE IF EXISTS \"$AAO_TEST_DB\" WITH (FORCE)" </dev/null \
            && _aao_psql postgres -c "CREATE DATABASE \"$AAO_TEST_DB\"" </dev/null \
            && _aao_psql "$AAO_TEST_DB" -c "CREATE EXTENSION IF NOT EXISTS pg_trgm" </dev/null; }; then
        _aao_err "cannot recreate database $AAO_TEST_DB"; return 1
    fi

    if [ -n "${PGPASSWORD:-}" ]; then
        export TEST_DATABASE_URL="postgres://postgres:${PGPASSWORD}@${AAO_PG_HOST}:${AAO_PG_PORT}/${AAO_TEST_DB}"
    else
        export TEST_DATABASE_URL="postgres://postgres@${AAO_PG_HOST}:${AAO_PG_PORT}/${AAO_TEST_DB}"
    fi
}

aao_stop_postgres() {
    if [ -n "$AAO_PG_STARTED_CLUSTER" ]; then
        local ver name
        read -r ver name <<<"$AAO_PG_STARTED_CLUSTER"
        _aao_say "stopping PostgreSQL cluster $ver/$name (started by this script)"
        _aao_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" stop >/dev/null 2>&1 || true
        AAO_PG_STARTED_CLUSTER=""
    fi
}

# ---------------------------------------------------------------------- moto

_aao_port_free() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

_aao_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

AAO_MOTO_PID=""
AAO_MOTO_DIR=""
aao_start_moto() {
    local cmd port _
    cmd="$(_aao_moto_cmd)" || { _aao_err "moto_server not found (pip install 'moto[server]')"; return 1; }
    if [ -n "${AAO_MOTO_PORT:-}" ]; then
        port="$AAO_MOTO_PORT"
    elif _aao_port_free 5000; then
        port=5000
    else
        port="$(_aao_free_port)" || return 1
    fi
    AAO_MOTO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/aao-moto.XXXXXX")" || return 1
    _aao_say "starting moto on 127.0.0.1:$port (log: $AAO_MOTO_DIR/moto.log)"
    # Run moto as the leader of its own process group so that the whole group
    # (pyenv shim, python) can be stopped. A script's background job shares the
    # script's group, so use setsid (which then execs in place, keeping $!); an
    # interactive shell with job control already gives the job its own group.
    # shellcheck disable=SC2086
    if [[ $- == *m* ]]; then
        $cmd -H 127.0.0.1 -p "$port" >"$AAO_MOTO_DIR/moto.log" 2>&1 </dev/null &
    else
        setsid $cmd -H 127.0.0.1 -p "$port" >"$AAO_MOTO_DIR/moto.log" 2>&1 </dev/null &
    fi
    AAO_MOTO_PID=$!
    for _ in $(seq 1 100); do
        if ! kill -0 "$AAO_MOTO_PID" 2>/dev/null; then
            _aao_err "moto exited early; its log:"; cat "$AAO_MOTO_DIR/moto.log" >&2
            AAO_MOTO_PID=""; return 1
        fi
        if curl -s -o /dev/null --noproxy '*' --max-time 2 "http://127.0.0.1:$port/moto-api/"; then
            break
        fi
        sleep 0.2
    done
    if ! curl -s -o /dev/null --noproxy '*' --max-time 2 "http://127.0.0.1:$port/moto-api/"; then
        _aao_err "moto did not answer on 127.0.0.1:$port; its log:"; cat "$AAO_MOTO_DIR/moto.log" >&2
        aao_stop_moto; return 1
    fi
    export TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export AWS_ACCESS_KEY_ID=test
    export AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=ap-southeast-2
    export AWS_DEFAULT_REGION=ap-southeast-2
    # Never pick up a developer's real AWS profile or session in tests.
    unset AWS_SESSION_TOKEN AWS_PROFILE
}

aao_stop_moto() {
    if [ -n "$AAO_MOTO_PID" ]; then
        _aao_say "stopping moto (pid $AAO_MOTO_PID)"
        kill -TERM -- "-$AAO_MOTO_PID" 2>/dev/null || kill -TERM "$AAO_MOTO_PID" 2>/dev/null || true
        local _
        for _ in $(seq 1 50); do
            kill -0 "$AAO_MOTO_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$AAO_MOTO_PID" 2>/dev/null || true
        wait "$AAO_MOTO_PID" 2>/dev/null || true
        AAO_MOTO_PID=""
    fi
    if [ -n "$AAO_MOTO_DIR" ]; then rm -rf "$AAO_MOTO_DIR"; AAO_MOTO_DIR=""; fi
}

# ------------------------------------------------------------------ together

# The npm test packages (tests/ui: Playwright, axe, and oidc-provider, the OpenID Connect
# provider the Rust tests sign in at too), installed from the lockfile when missing.
aao_install_npm_packages() {
    local ui
    ui="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/ui" && pwd)" || return 1
    [ -d "$ui/node_modules/oidc-provider" ] && [ -d "$ui/node_modules/@playwright/test" ] && return 0
    command -v npm >/dev/null 2>&1 || { _aao_err "npm is missing: install Node.js 20 or newer"; return 1; }
    _aao_say "installing the npm test packages (npm ci in tests/ui)"
    (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || { _aao_err "npm ci failed"; return 1; }
}

aao_services_up() {
    aao_install_tools || return 1
    # sam, cfn-lint, cargo-lambda, aiosmtpd in their own venv (scripts/tools.sh).
    aao_tools_up || return 1
    aao_install_npm_packages || return 1
    aao_start_postgres || return 1
    aao_start_moto || return 1
    export AAO_REQUIRE_EXTERNAL=1
    _aao_say "TEST_DATABASE_URL=$TEST_DATABASE_URL"
    _aao_say "TEST_S3_ENDPOINT=$TEST_S3_ENDPOINT"
}

aao_services_down() {
    aao_stop_moto
    aao_stop_postgres
}

# Sourced directly from an interactive shell (not from test.sh): bring it all up.
if [ "${BASH_SOURCE[0]}" != "$0" ] && [ -z "${AAO_SERVICES_LIB_ONLY:-}" ]; then
    if aao_services_up; then
        _aao_say "services up; run 'aao_services_down' to stop what was started"
    else
        _aao_err "service setup failed"
        aao_services_down
    fi
fi
