#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests, from Debian's packages:
#
#   scripts/postgres.sh start DIR   # initdb in DIR, start on a Unix socket in DIR; prints the URL
#   scripts/postgres.sh stop DIR    # stop it and remove DIR
#
# The server listens on no TCP port, only on DIR's socket, and runs as the `postgres`
# system user (PostgreSQL refuses root), with fsync off: the data is thrown away. The
# URL names the database `postgres` as its owner; each test makes its own database.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$2

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
as_postgres() {
  if [[ "$(id -un)" == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}

case "$action" in
  start)
    if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
      echo "[postgres] installing the postgresql package" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
      bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    mkdir -p "$dir"
    chown postgres: "$dir"
    chmod 700 "$dir"
    as_postgres "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
    as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null
    echo "postgres:///postgres?host=$dir&user=postgres"
    ;;
  stop)
    if [[ -d "$dir/data" && -n "$bindir" ]]; then
      as_postgres "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
