#!/usr/bin/env bash
# Installs the PostgreSQL server binaries (initdb, pg_ctl, postgres) that tests/postgres_server.py needs
# for its throwaway test cluster. Idempotent and quiet: does nothing when they are already there, runs
# `apt-get update` only when the install fails on missing/stale package lists, and exits non-zero with
# apt's output when it cannot install them. Debian 12; runs as root (or with passwordless sudo).
set -euo pipefail

# Same places tests/postgres_server.py looks in (newest /usr/lib/postgresql/<version>/bin, then PATH).
have_server_binaries() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            return 0
        fi
    done
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null
}

fail() {
    echo "install-postgres: $*" >&2
    exit 1
}

if have_server_binaries; then
    exit 0
fi

command -v apt-get >/dev/null || fail "no apt-get here; install the PostgreSQL server (initdb, pg_ctl, postgres) by hand"
as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if ! sudo -n true 2>/dev/null; then
        fail "must run as root (or with passwordless sudo)"
    fi
    as_root=(sudo -n)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt_get() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" >>"$log" 2>&1
}
install_server() {
    # `postgresql` is Debian's metapackage for its supported major version (15 on Debian 12).
    apt_get install --no-install-recommends postgresql
}

if ! install_server; then
    apt_get update || { cat "$log" >&2; fail "apt-get update failed"; }
    install_server || { cat "$log" >&2; fail "apt-get install postgresql failed"; }
fi
have_server_binaries || { cat "$log" >&2; fail "postgresql installed but initdb/pg_ctl/postgres are still missing"; }
