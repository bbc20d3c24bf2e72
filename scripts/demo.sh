#!/usr/bin/env bash
# The demo on the embedded default: a throwaway local PostgreSQL, the SQL installed, a demo table
# with an outbox, a pipeline to stdout, a few rows written, and the relayed messages shown.
# Only what the demo needs is installed and built (scripts/install-deps.sh demo, scripts/build.sh
# demo): the build's packages first, then PostgreSQL installs and the throwaway server starts while
# the relay compiles.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

work=$(mktemp -d /tmp/pgtrickle-relay-demo.XXXXXX)
chmod 755 "$work"
relay_pid="" server_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
  # A package install is never cut short: when the build failed, it finishes first.
  [ -z "$server_pid" ] || wait "$server_pid" 2>/dev/null || true
  scripts/pg-server.sh stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/install-deps.sh demo-build
(
  scripts/install-deps.sh demo
  scripts/pg-server.sh start "$work/pg" "${PGTRICKLE_DEMO_PG_PORT:-55460}" >"$work/pg-url"
) >"$work/pg-start.log" 2>&1 &
server_pid=$!
relay=$(scripts/build.sh demo)

echo "== Starting a throwaway PostgreSQL"
wait "$server_pid" || { server_pid=""; cat "$work/pg-start.log" >&2; exit 1; }
server_pid=""
url=$(cat "$work/pg-url")
echo "   $url"
sql() { psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }

echo "== Installing the relay's SQL"
"$relay" install --postgres-url "$url"

echo "== A demo table with an outbox, and a pipeline to stdout"
sql <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric NOT NULL);
SELECT pgtrickle.enable_outbox('orders');
SELECT pgtrickle.set_relay_outbox('orders-to-stdout',
         config => '{"stream_table": "orders", "sink_type": "stdout"}'::jsonb);
SQL
sql -c "SELECT name, direction, enabled, config FROM pgtrickle.list_relay_configs()"

echo "== Running the relay (logs in $work/relay.log); messages follow"
"$relay" --postgres-url "$url" --metrics-addr 127.0.0.1:0 >"$work/messages.jsonl" 2>"$work/relay.log" &
relay_pid=$!
until grep -q "Reading the outbox" "$work/relay.log" 2>/dev/null; do
  kill -0 "$relay_pid" 2>/dev/null || { cat "$work/relay.log"; exit 1; }
  sleep 0.1
done
tail -n +1 -f "$work/messages.jsonl" &
tail_pid=$!

sql <<'SQL'
INSERT INTO orders VALUES (1, 'ann', 42.50), (2, 'bob', 7.00);
UPDATE orders SET amount = 45.00 WHERE id = 1;
DELETE FROM orders WHERE id = 2;
SQL
for _ in $(seq 1 100); do
  [ "$(wc -l <"$work/messages.jsonl")" -ge 4 ] && break
  sleep 0.1
done
sleep 0.3
kill "$tail_pid" 2>/dev/null || true
echo "== $(wc -l <"$work/messages.jsonl") messages relayed (insert, insert, update, delete); stopping"
