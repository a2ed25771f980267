#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need on a fresh Debian machine, then runs
# ruff, mypy and pytest. Extra arguments go to pytest. With CI=true a test server that cannot start fails the
# run instead of skipping (tests/servers/__init__.py).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

# --- system packages: only what is missing, quietly -------------------------------------------------------
missing=()
dpkg -s dovecot-imapd >/dev/null 2>&1 && command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-imapd)
dpkg -s chromium >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Debian's postgresql-NN keeps initdb/pg_ctl in /usr/lib/postgresql/NN/bin, off PATH; the tests look there.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing system packages: ${missing[*]} (install them, or run this script as root)" >&2
        exit 1
    fi
    log "installing ${missing[*]}"
    # The tests run private server instances: keep the packages' postinst from starting system daemons.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    apt_log=$(mktemp)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$apt_log" 2>&1; then
        cat "$apt_log" >&2
        if [[ $made_policy == 1 ]]; then rm -f "$policy"; fi
        exit 1
    fi
    if [[ $made_policy == 1 ]]; then rm -f "$policy"; fi
    rm -f "$apt_log"
fi

# Never at boot either: a system Dovecot would only hold port 143 and memory the tests do not use.
if [[ $(id -u) -eq 0 ]] && command -v systemctl >/dev/null 2>&1 && [[ -e /lib/systemd/system/dovecot.service ]]; then
    systemctl disable --quiet dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi

# --- the package and its test tools -------------------------------------------------------------------------
log "pip install -e .[test]"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"

# --- lint, types, tests -------------------------------------------------------------------------------------
lint_paths=()
for path in bot tests benchmarks; do
    [[ -e $path ]] && lint_paths+=("$path")
done
log "ruff check ${lint_paths[*]}"
python3 -m ruff check "${lint_paths[@]}"
log "mypy"
python3 -m mypy
log "pytest"
exec python3 -m pytest "$@"
