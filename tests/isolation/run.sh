#!/usr/bin/env bash
# Isolation tests: concurrent sessions interleaved step by step (PostgreSQL's isolationtester) over
# the commit-order and consumer-group lease logic, and an inbox table swapped under a call.
#   PGTRICKLE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:55440/postgres tests/isolation/run.sh
# The SQL install (the build's pgtrickle_relay.sql, or PGTRICKLE_RELAY_INSTALL_SQL) goes into a
# fresh database; each spec's output must match expected/<spec>.out.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
install_sql=${PGTRICKLE_RELAY_INSTALL_SQL:-$root/build/pgtrickle_relay.sql}
maint_url=${PGTRICKLE_TEST_POSTGRES_URL:?set PGTRICKLE_TEST_POSTGRES_URL to a maintenance URL of a superuser}
regress=$(ls /usr/lib/postgresql/*/lib/pgxs/src/test/isolation/pg_isolation_regress 2>/dev/null | sort -V | tail -n 1)
[ -x "$regress" ] || { echo "run.sh: pg_isolation_regress not found (Debian package postgresql-client-15)" >&2; exit 2; }
[ -f "$install_sql" ] || { echo "run.sh: $install_sql does not exist; build first" >&2; exit 2; }

# Host and port from the URL (postgresql://user@host:port/db).
hostport=${maint_url#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
host=${hostport%%:*}; port=${hostport##*:}; user=${maint_url#*://}; user=${user%%@*}
db="pgtrickle_isolation_$$"
work=$(mktemp -d)
trap 'psql "$maint_url" -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; rm -rf "$work"' EXIT

psql "$maint_url" -X -q -c "CREATE DATABASE $db" >/dev/null
db_url=$(printf '%s' "$maint_url" | sed "s#/[^/?]*\(\?\|$\)#/$db\1#")
psql "$db_url" -X -q -v ON_ERROR_STOP=1 -f "$install_sql" >/dev/null
# The canary an attacker's code calls, counting the times it runs with more rights than its author's.
psql "$db_url" -X -q -v ON_ERROR_STOP=1 -f "$root/tests/sql/support/canary.sql" >/dev/null
status=0
"$regress" --use-existing --host="$host" --port="$port" --user="$user" --dbname="$db" \
  --inputdir="$here" --outputdir="$work" --schedule="$here/schedule" || status=$?
[ "$status" = 0 ] || cat "$work/regression.diffs" 2>/dev/null
# PGTRICKLE_ISOLATION_RESULTS=dir keeps the outputs (to review a changed spec's new expected file).
[ -z "${PGTRICKLE_ISOLATION_RESULTS:-}" ] || cp -r "$work/results/." "$PGTRICKLE_ISOLATION_RESULTS/"
exit "$status"
