# shellcheck shell=bash
# Python command-line tools the tests need, in one virtualenv of their own (.tools/venv), so that
# their pins never fight the globally installed moto/awscli:
#   aws-sam-cli, cfn-lint   check deploy/aws/template.yaml offline (sam validate --lint, cfn-lint)
#   cargo-lambda            builds the Lambda zip and runs the Lambda runtime emulator
#   aiosmtpd                an SMTP server on loopback for the e-mail tests
#
#   source scripts/tools.sh && aao_tools_up     # installs when missing, puts its bin/ on PATH
#
# Idempotent and quick when present: a stamp file records the requirement list installed; the
# venv is only touched when the list changes or a tool no longer runs. AAO_NO_INSTALL=1 never
# runs pip (fails instead). Nothing here reaches the network except pip install itself.

AAO_TOOLS_DIR="${AAO_TOOLS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools}"
AAO_TOOLS_VENV="$AAO_TOOLS_DIR/venv"
# Bump a pin here and the next run reinstalls (the stamp differs).
AAO_TOOLS_REQUIREMENTS=(
    'aws-sam-cli>=1.140,<2'
    'cfn-lint>=1.30,<2'
    'cargo-lambda>=1.8,<2'
    'aiosmtpd>=1.4,<2'
)

_aao_tools_say() { printf '==> %s\n' "$*" >&2; }
_aao_tools_err() { printf 'ERROR: %s\n' "$*" >&2; }

_aao_tools_ok() {
    # Every tool answers --version from the venv, and the stamp matches the list.
    local bin="$AAO_TOOLS_VENV/bin"
    [ -f "$AAO_TOOLS_VENV/.aao-stamp" ] || return 1
    [ "$(cat "$AAO_TOOLS_VENV/.aao-stamp")" = "${AAO_TOOLS_REQUIREMENTS[*]}" ] || return 1
    "$bin/sam" --version >/dev/null 2>&1 || return 1
    "$bin/cfn-lint" --version >/dev/null 2>&1 || return 1
    "$bin/cargo-lambda" lambda --version >/dev/null 2>&1 || return 1
    "$bin/python" -c 'import aiosmtpd' >/dev/null 2>&1 || return 1
}

aao_tools_up() {
    if ! _aao_tools_ok; then
        if [ "${AAO_NO_INSTALL:-0}" = 1 ]; then
            _aao_tools_err "the tools venv ($AAO_TOOLS_VENV) is missing or stale and AAO_NO_INSTALL=1"; return 1
        fi
        _aao_tools_say "installing ${AAO_TOOLS_REQUIREMENTS[*]} into $AAO_TOOLS_VENV"
        mkdir -p "$AAO_TOOLS_DIR" || return 1
        if [ ! -x "$AAO_TOOLS_VENV/bin/python" ]; then
            python3 -m venv "$AAO_TOOLS_VENV" || { _aao_tools_err "python3 -m venv failed (Debian: apt-get install python3-venv)"; return 1; }
        fi
        local log
        log="$(mktemp "${TMPDIR:-/tmp}/aao-tools.XXXXXX")" || return 1
        if ! "$AAO_TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check \
                "${AAO_TOOLS_REQUIREMENTS[@]}" >"$log" 2>&1; then
            _aao_tools_err "pip install into $AAO_TOOLS_VENV failed:"; tail -n 30 "$log" >&2; rm -f "$log"; return 1
        fi
        rm -f "$log"
        printf '%s' "${AAO_TOOLS_REQUIREMENTS[*]}" >"$AAO_TOOLS_VENV/.aao-stamp"
        _aao_tools_ok || { _aao_tools_err "tools installed in $AAO_TOOLS_VENV but one does not run"; return 1; }
    fi
    case ":$PATH:" in
        *":$AAO_TOOLS_VENV/bin:"*) ;;
        *) export PATH="$AAO_TOOLS_VENV/bin:$PATH" ;;
    esac
    # The tests find the tools here even when PATH is rebuilt for a child process.
    export AAO_TOOLS_BIN="$AAO_TOOLS_VENV/bin"
    # sam and cfn-lint want a region; SAM must not phone home with telemetry.
    export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-ap-southeast-2}"
    export SAM_CLI_TELEMETRY=0
}
