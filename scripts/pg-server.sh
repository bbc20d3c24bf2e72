#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server for the demo, tests and benchmarks.
#   scripts/pg-server.sh start <dir> <port>   -> prints the connection URL
#   scripts/pg-server.sh stop  <dir>
# The server runs as the `postgres` user, listens on 127.0.0.1:<port> and on a socket in <dir>,
# and trusts local connections (it holds throwaway data only). PGTRICKLE_PG_MAX_CONNECTIONS sets
# max_connections (300: the test suite's parallel relays; the benchmarks use PostgreSQL's 100).
#
# This machine's PostgreSQL (15 on Debian 12) unless PGTRICKLE_PG_RELEASE names a Debian release
# (bookworm or trixie): then that release's PostgreSQL (trixie: 17), run in a root of that release
# kept by scripts/debian-root.sh (`make RELEASE server`, made once; needs root). The server runs
# there in a mount namespace of its own with <dir> mounted at /pgdata: it shares this machine's
# network and process ids (its postmaster.pid names a process of this machine), and nothing stays
# mounted once it stops. <dir> remembers the release, so `stop` needs no variable. Exits 75 when
# the root cannot be made because the Debian archive cannot be reached.
#
# PGTRICKLE_PG_STANDBY_OF=<port>:<slot> makes a new <dir> a physical standby of the server on
# 127.0.0.1:<port> (pg_basebackup -R, through the physical slot <slot> it creates there) instead
# of an empty cluster: hot_standby_feedback on and, from PostgreSQL 17, sync_replication_slots on
# (it keeps copies of the primary's failover slots). Promote it with SELECT pg_promote().
# PGTRICKLE_PG_OPTIONS adds server options (e.g. "-c shared_preload_libraries=pg_stat_statements"
# to see where a benchmark's server time goes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: pg-server.sh start|stop <dir> [port]}
dir=${2:?data directory required}
port=${3:-55432}
# The server's user may not enter the caller's directory (a clone under root's home): its
# commands run from /, so <dir> is made absolute first.
dir=$(realpath -m "$dir")
cd /

release=${PGTRICKLE_PG_RELEASE:-}
[ -n "$release" ] || release=$(cat "$dir/release" 2>/dev/null || true)
if [ -n "$release" ]; then
  # The release's root, made unless made: `make` exits 75 when the archive cannot be reached.
  if [ "$cmd" = start ]; then
    rc=0
    root=$("$here/scripts/debian-root.sh" make "$release" server) || rc=$?
    [ "$rc" = 0 ] || { echo "pg-server.sh: no $release root with PostgreSQL (scripts/debian-root.sh make $release server)" >&2; exit "$rc"; }
  else
    root=$("$here/scripts/debian-root.sh" path "$release" server)
  fi
  bindir=$(ls -d "$root"/usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bindir/initdb" ] || { echo "pg-server.sh: no PostgreSQL server in $root" >&2; exit 1; }
  bindir=${bindir#"$root"}
  pgdir=/pgdata
  # The root's postgres user: its ids differ from this machine's.
  owner=$(awk -F: '$1 == "postgres" { print $3 ":" $4 }' "$root/etc/passwd")
  as_pg() { "$here/scripts/debian-root.sh" run "$root" --bind "$dir:$pgdir" -- runuser -u postgres -- "$@"; }
else
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bindir/initdb" ] || { echo "pg-server.sh: PostgreSQL server binaries not found; run scripts/install-deps.sh" >&2; exit 1; }
  pgdir=$dir
  owner=postgres:postgres
  as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
fi
version=$(basename "$(dirname "$bindir")")

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown "$owner" "$dir"
    [ -z "$release" ] || echo "$release" >"$dir/release"
    if [ ! -f "$dir/data/PG_VERSION" ] && [ -n "${PGTRICKLE_PG_STANDBY_OF:-}" ]; then
      primary=${PGTRICKLE_PG_STANDBY_OF%%:*} slot=${PGTRICKLE_PG_STANDBY_OF#*:}
      # -R writes primary_conninfo (with the dbname slot synchronization needs) and primary_slot_name.
      as_pg "$bindir/pg_basebackup" -d "host=127.0.0.1 port=$primary user=postgres dbname=postgres" -D "$pgdir/data" \
        -R -C -S "$slot" -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; exit 1; }
      {
        echo "hot_standby_feedback = on"
        [ "$version" -lt 17 ] || echo "sync_replication_slots = on"
      } >>"$dir/data/postgresql.auto.conf"
    elif [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bindir/initdb" -D "$pgdir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 start \
      -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=${PGTRICKLE_PG_MAX_CONNECTIONS:-300} -c fsync=on -c shared_buffers=256MB -c max_locks_per_transaction=256 -c wal_level=logical -c max_replication_slots=64 -c max_wal_senders=64 ${PGTRICKLE_PG_OPTIONS:-}" >/dev/null \
      || { tail -n 30 "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: pg-server.sh start|stop <dir> [port]" >&2; exit 2 ;;
esac
