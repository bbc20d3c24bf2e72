#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 server for the demo, tests and benchmarks.
#   scripts/pg-server.sh start <dir> <port>   -> prints the connection URL
#   scripts/pg-server.sh stop  <dir>
# The server runs as the `postgres` user, listens on 127.0.0.1:<port> and on a socket in <dir>,
# and trusts local connections (it holds throwaway data only). PGTRICKLE_PG_MAX_CONNECTIONS sets
# max_connections (300: the test suite's parallel relays; the benchmarks use PostgreSQL's 100).
set -euo pipefail
cmd=${1:?usage: pg-server.sh start|stop <dir> [port]}
dir=${2:?data directory required}
port=${3:-55432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg-server.sh: PostgreSQL server binaries not found; run scripts/install-deps.sh" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=${PGTRICKLE_PG_MAX_CONNECTIONS:-300} -c fsync=on -c shared_buffers=256MB -c max_locks_per_transaction=256 -c wal_level=logical -c max_replication_slots=64 -c max_wal_senders=64" >/dev/null \
      || { tail -n 30 "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: pg-server.sh start|stop <dir> [port]" >&2; exit 2 ;;
esac
