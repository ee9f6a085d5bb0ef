#!/usr/bin/env bash
# Start a local PostgreSQL server for evotune's storage tests and export its URL.
#
# Usage (from the repository root, as root or as a user with sudo on Debian/Ubuntu):
#     source .ci/postgres.sh      # sets EVOTUNE_TEST_POSTGRES_URL in this shell
#     bash .ci/postgres.sh        # prints the export line instead
#
# The script is idempotent: it installs PostgreSQL from Debian's packages only when no server
# binaries are found, starts the existing cluster (or creates one) only when it is not running,
# and creates the role and database only when they are missing. Settings can be overridden with
# EVOTUNE_PG_USER, EVOTUNE_PG_PASSWORD, EVOTUNE_PG_DB and EVOTUNE_PG_PORT.
#
# When sourced it never changes the options of the calling shell (no `set -e` leaks out): all
# work happens in a subshell, and only the final export touches the caller.

_evotune_pg_setup() (
    set -euo pipefail
    user="${EVOTUNE_PG_USER:-evotune}"
    password="${EVOTUNE_PG_PASSWORD:-evotune}"
    database="${EVOTUNE_PG_DB:-evotune_test}"
    port="${EVOTUNE_PG_PORT:-5432}"
    log() { echo "[postgres.sh] $*" >&2; }

    as_root() {
        if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
    }
    as_postgres() {
        if [ "$(id -un)" = postgres ]; then "$@"
        elif [ "$(id -u)" -eq 0 ]; then
            if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
        else sudo -u postgres "$@"; fi
    }

    # 1. Install the server when it is missing.
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        log "installing PostgreSQL from the Debian packages"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -qq >&2
        as_root apt-get install -y -qq postgresql >&2
    fi
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    bindir="/usr/lib/postgresql/$version/bin"

    # 2. Start a cluster on $port when nothing answers there.
    if ! as_postgres "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        if command -v pg_lsclusters >/dev/null 2>&1; then
            cluster="$(pg_lsclusters -h 2>/dev/null | awk -v v="$version" -v p="$port" '$1 == v && $3 == p {print $2; exit}')"
            if [ -z "$cluster" ]; then
                cluster="evotune"
                log "creating cluster $version/$cluster on port $port"
                as_root pg_createcluster "$version" "$cluster" --port "$port" >&2
            fi
            log "starting cluster $version/$cluster"
            as_root mkdir -p /var/run/postgresql
            as_root chown postgres:postgres /var/run/postgresql
            as_root pg_ctlcluster "$version" "$cluster" start >&2 || true
        else  # no Debian wrappers: a private data directory owned by postgres
            datadir="/tmp/evotune-postgres-$port"
            if [ ! -s "$datadir/PG_VERSION" ]; then
                as_root mkdir -p "$datadir"
                as_root chown postgres "$datadir"
                as_postgres "$bindir/initdb" -D "$datadir" -A trust -U postgres >&2
            fi
            as_postgres "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" \
                -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >&2 || true
        fi
        for _ in $(seq 1 60); do
            as_postgres "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
            sleep 0.5
        done
        as_postgres "$bindir/pg_isready" -h 127.0.0.1 -p "$port" >&2
    fi

    # 3. Role and database (through the local socket as the postgres superuser, or TCP).
    psql_admin() {
        if as_postgres "$bindir/psql" -p "$port" -Atqc "select 1" >/dev/null 2>&1; then
            as_postgres "$bindir/psql" -p "$port" -v ON_ERROR_STOP=1 -Atq "$@"
        else
            as_postgres "$bindir/psql" -h /tmp -p "$port" -v ON_ERROR_STOP=1 -Atq "$@"
        fi
    }
    if [ "$(psql_admin -c "select 1 from pg_roles where rolname = '$user'")" != 1 ]; then
        log "creating role $user"
        psql_admin -c "create role \"$user\" login password '$password'"
    else
        psql_admin -c "alter role \"$user\" login password '$password'"
    fi
    if [ "$(psql_admin -c "select 1 from pg_database where datname = '$database'")" != 1 ]; then
        log "creating database $database"
        psql_admin -c "create database \"$database\" owner \"$user\""
    fi
    url="postgresql://$user:$password@127.0.0.1:$port/$database"
    # Password logins over TCP must work (pg_hba "scram-sha-256"/"md5" on 127.0.0.1 by default).
    PGPASSWORD="$password" "$bindir/psql" "$url" -Atqc "select 1" >/dev/null
    echo "$url"
)

if _evotune_pg_url="$(_evotune_pg_setup)"; then
    export EVOTUNE_TEST_POSTGRES_URL="$_evotune_pg_url"
    echo "export EVOTUNE_TEST_POSTGRES_URL=$_evotune_pg_url"
    unset _evotune_pg_url
else
    echo "[postgres.sh] could not start PostgreSQL; PostgreSQL tests will be skipped" >&2
    unset _evotune_pg_url
    # shellcheck disable=SC2317  # `return` when sourced, `exit` when executed
    return 1 2>/dev/null || exit 1
fi
