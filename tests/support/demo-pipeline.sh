# The demo's pipeline as the package and image checks run it (tests/package/check.sh,
# tests/package/check-arm64.sh, tests/image/check.sh): a fresh database of the test PostgreSQL, the
# orders table with its outbox relayed to stdout, the demo's rows, and the messages the relay printed.
# Sourced by those scripts, which define fail (says why and exits non-zero).

# demo_database <server URL> <name>: creates the database; $demo_url is its URL.
demo_database() {
  psql -X -q -v ON_ERROR_STOP=1 "$1" -c "CREATE DATABASE $2" >/dev/null
  demo_url="${1%/*}/$2"
}

# psql on the demo's database, stopping at the first error.
demo_sql() { psql -X -q -v ON_ERROR_STOP=1 "$demo_url" "$@"; }

# The orders table, its outbox and the pipeline orders-to-stdout (once the relay's SQL is installed).
demo_pipeline() {
  demo_sql >/dev/null <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric NOT NULL);
SELECT pgtrickle.enable_outbox('orders');
SELECT pgtrickle.set_relay_outbox('orders-to-stdout', config => '{"stream_table": "orders", "sink_type": "stdout"}'::jsonb);
SQL
}

# demo_relay_started <pid> <messages file> <log file>: the relay (or the container running it) was
# started in the background, printing to these files; returns once it reads the outbox.
demo_relay_started() {
  demo_pid=$1 demo_messages=$2 demo_log=$3
  demo_wait_for 60 grep -q "Reading the outbox" "$demo_log"
}

# demo_wait_for <seconds> <command...>: runs the command until it succeeds; fails, showing the relay's
# log, when the relay exits first or the time is up.
demo_wait_for() {
  local until=$((SECONDS + $1)); shift
  until "$@"; do
    kill -0 "$demo_pid" 2>/dev/null || { cat "$demo_log"; fail "the relay exited"; }
    [ "$SECONDS" -lt "$until" ] || { cat "$demo_log"; fail "timed out waiting for: $*"; }
    sleep 0.1
  done
}

# The demo's rows: two inserts, an update and a delete.
demo_rows() {
  demo_sql <<'SQL'
INSERT INTO orders VALUES (1, 'ann', 42.50), (2, 'bob', 7.00);
UPDATE orders SET amount = 45.00 WHERE id = 1;
DELETE FROM orders WHERE id = 2;
SQL
}

# demo_more_rows <batches>: after the demo's rows, inserts of 100 rows each, one transaction per batch
# (ids 100 to 100 * batches + 99).
demo_more_rows() {
  local batch
  for batch in $(seq 1 "$1"); do
    demo_sql -c "INSERT INTO orders SELECT i, 'customer ' || i, i FROM generate_series($((batch * 100)), $((batch * 100 + 99))) AS i"
  done
}

# demo_messages_relayed [batches]: waits for the messages of the demo's rows (and of demo_more_rows
# <batches>), then checks the relay printed exactly those, in commit order.
demo_messages_relayed() {
  local batches=${1:-0}
  demo_expected=$((4 + 100 * batches))
  demo_wait_for 60 demo_all_printed
  python3 - "$demo_messages" "$batches" <<'PY' || fail "the relay did not print the demo's changes in commit order"
import json, sys
messages = [json.loads(line) for line in open(sys.argv[1])]
changes = [(m["op"], int(m["key"])) for m in messages]
expected = [("insert", 1), ("insert", 2), ("update", 1), ("delete", 2)]
expected += [("insert", i) for i in range(100, 100 * int(sys.argv[2]) + 100)]
if changes != expected:
    first = next((i for i, (a, b) in enumerate(zip(changes, expected)) if a != b), min(len(changes), len(expected)))
    sys.exit(f"{len(changes)} messages, {len(expected)} expected; the first difference at {first}: {changes[first:first + 4]}")
PY
}

demo_all_printed() { [ "$(wc -l <"$demo_messages")" -ge "$demo_expected" ]; }
