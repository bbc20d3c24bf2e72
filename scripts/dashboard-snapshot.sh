#!/usr/bin/env bash
# Draws docs/grafana/dashboard.png from a real run: a throwaway PostgreSQL, two relays of one group,
# two pipelines (orders -> file, payments -> a PostgreSQL inbox) under a varying load with faults on
# the way (oversized rows that are dead-lettered, an inbox refusing inserts for a while, a replay of
# rows it already has, a database restart, a relay killed and started again), a Prometheus scraping
# both relays every second with docs/prometheus/alerts.yml loaded, then every panel of
# docs/grafana/pgtrickle-relay.json drawn from Prometheus with the panel's own query
# (scripts/dashboard/render.js) and the page captured by headless Chromium.
#   scripts/dashboard-snapshot.sh [output.png]
# Environment: PGTRICKLE_SNAPSHOT_SECONDS (length of the run, default 300),
# PGTRICKLE_SNAPSHOT_PORT (first of four ports, default 55710), RELAY_BINARY (default: build it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/docs/grafana/dashboard.png}")
cd "$root"
seconds=${PGTRICKLE_SNAPSHOT_SECONDS:-300}
base=${PGTRICKLE_SNAPSHOT_PORT:-55710}
pg_port=$base relay_a_port=$((base + 1)) prom_port=$((base + 2)) relay_b_port=$((base + 3))

scripts/install-deps.sh
extra=()
for p in prometheus chromium fonts-dejavu-core curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
done
if [ ${#extra[@]} -gt 0 ]; then
  echo "Installing: ${extra[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
fi
relay=${RELAY_BINARY:-}
if [ -z "$relay" ]; then
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" --parallel "$(nproc)" --target pgtrickle-relay
  relay=$root/build/pgtrickle-relay
fi

work=$(mktemp -d /tmp/pgtrickle-relay-snapshot.XXXXXX)
chmod 755 "$work"
pids=()
relay_a=""
cleanup() {
  local rc=$?
  for p in $relay_a "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $relay_a "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scripts/pg-server.sh stop "$work/pg" || true
  if [ "$rc" != 0 ]; then
    for f in "$work"/relay-*.log "$work/prometheus.log"; do [ -f "$f" ] && { echo "== $f"; tail -n 20 "$f"; }; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== Starting a throwaway PostgreSQL on port $pg_port"
url=$(scripts/pg-server.sh start "$work/pg" "$pg_port")
sql() { psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }
"$relay" install --postgres-url "$url"

echo "== Two tables with outboxes; pipelines orders -> file, payments -> inbox"
sql -o /dev/null -v file="$work/orders.jsonl" <<'SQL'
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, amount numeric NOT NULL);
CREATE TABLE payments (id bigserial PRIMARY KEY, order_id bigint NOT NULL, amount numeric NOT NULL, note text);
SELECT pgtrickle.enable_outbox('orders');
SELECT pgtrickle.enable_outbox('payments');
SELECT pgtrickle.create_inbox('payments');
SELECT pgtrickle.set_relay_outbox('orders-to-file',
         config => jsonb_build_object('stream_table', 'orders', 'sink_type', 'file', 'path', :'file'));
-- The inbox keys rows by payment id, so a replayed payment is a duplicate; big payloads are set aside.
SELECT pgtrickle.set_relay_outbox('payments-to-inbox', config => '{
  "stream_table": "payments", "sink_type": "pg-inbox", "inbox_name": "payments",
  "event_id": "$.id", "max_payload_bytes": 2048}'::jsonb);

-- One row per transaction at a rate that swings between base - amplitude and base + amplitude.
CREATE PROCEDURE snapshot_load(target text, base float8, amplitude float8, period float8, until timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  rate float8;
BEGIN
  WHILE clock_timestamp() < until LOOP
    rate := greatest(2, base + amplitude * sin(2 * pi() * extract(epoch FROM clock_timestamp()) / period));
    IF target = 'orders' THEN
      INSERT INTO orders (customer, amount) VALUES ('c' || (random() * 100)::int, round((random() * 100)::numeric, 2));
    ELSE
      INSERT INTO payments (order_id, amount) VALUES ((random() * 1000)::int, round((random() * 100)::numeric, 2));
    END IF;
    COMMIT;
    PERFORM pg_sleep(1 / rate);
  END LOOP;
END $$;

CREATE FUNCTION snapshot_ledger_offline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is offline for maintenance' USING ERRCODE = '57P03';
END $$;
SQL

start_relay() {  # <port> <log>; the process id in $!
  "$relay" --postgres-url "$url" --sql-file-dir "$work" --metrics-addr "127.0.0.1:$1" --relay-group-id snapshot >/dev/null 2>>"$2" &
}
wait_http() {  # <url>
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "dashboard-snapshot.sh: $1 did not answer" >&2; return 1
}

echo "== Prometheus on port $prom_port, scraping both relays every second"
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ['$root/docs/prometheus/alerts.yml']
scrape_configs:
  - job_name: pgtrickle-relay
    static_configs: [{targets: ['127.0.0.1:$relay_a_port', '127.0.0.1:$relay_b_port']}]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
prom=http://127.0.0.1:$prom_port
wait_http "$prom/-/ready"

echo "== Two relays (metrics on $relay_a_port and $relay_b_port); load for $seconds s"
t0=$(date +%s)
end=$((t0 + seconds))
start_relay "$relay_a_port" "$work/relay-a.log"
relay_a=$!
wait_http "http://127.0.0.1:$relay_a_port/health/ready"
start_relay "$relay_b_port" "$work/relay-b.log"
pids+=($!)
wait_http "http://127.0.0.1:$relay_b_port/health/ready"
load() {  # <table> <base> <amplitude> <period>; reconnects after the database restart
  while [ "$(date +%s)" -lt "$end" ]; do
    PGOPTIONS="-c synchronous_commit=off" psql -X -q "$url" \
      -c "CALL snapshot_load('$1', $2, $3, $4, to_timestamp($end))" >/dev/null 2>&1 || sleep 1
  done
}
load orders 120 90 120 &
pids+=($!)
load payments 40 30 75 &
pids+=($!)

at() {  # <fraction of the run>: sleep until then
  local when
  when=$(awk -v t0="$t0" -v s="$seconds" -v f="$1" 'BEGIN { printf "%d", t0 + s * f }')
  while [ "$(date +%s)" -lt "$when" ]; do sleep 0.5; done
}
at 0.15; echo "   $(date +%T) 40 oversized payments (dead-lettered by the inbox pipeline)"
sql -c "INSERT INTO payments (order_id, amount, note) SELECT g, 1, repeat('x', 3000) FROM generate_series(1, 40) g"
at 0.25; echo "   $(date +%T) the inbox refuses inserts (retriable error): payments back up"
sql -c "CREATE TRIGGER ledger_offline BEFORE INSERT ON pgtrickle.inbox_payments EXECUTE FUNCTION snapshot_ledger_offline()"
at 0.35; echo "   $(date +%T) the inbox accepts again: the backlog drains"
sql -c "DROP TRIGGER ledger_offline ON pgtrickle.inbox_payments"
at 0.45; echo "   $(date +%T) 300 payments replayed (duplicates in the inbox)"
sql -c "UPDATE payments SET amount = amount WHERE id IN (SELECT id FROM payments WHERE note IS NULL ORDER BY id LIMIT 300)"
at 0.55; echo "   $(date +%T) PostgreSQL restarted (down for a few seconds)"
scripts/pg-server.sh stop "$work/pg"
sleep "$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 0.03 + 1 }')"
scripts/pg-server.sh start "$work/pg" "$pg_port" >/dev/null
at 0.68; echo "   $(date +%T) relay A killed (kill -9): relay B takes its pipelines over"
{ kill -KILL "$relay_a"; wait "$relay_a"; } 2>/dev/null || true
at 0.82; echo "   $(date +%T) relay A started again"
start_relay "$relay_a_port" "$work/relay-a.log"
relay_a=$!
at 1.0
sleep 2  # the last scrapes

echo "== Rendering the dashboard from Prometheus"
node scripts/dashboard/render.js docs/grafana/pgtrickle-relay.json "$prom" "$t0" "$(date +%s)" 1 "$work/dashboard.html" >"$work/height"
curl -fs "$prom/api/v1/rules" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const rules = JSON.parse(s).data.groups.flatMap((g) => g.rules);
    const bad = rules.filter((r) => r.health !== "ok");
    for (const r of rules) console.log(`   alert ${r.name}: ${r.state}${r.health !== "ok" ? " (" + r.lastError + ")" : ""}`);
    process.exit(bad.length ? 1 : 0);
  });'
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size="1600,$(cat "$work/height")" --screenshot="$work/dashboard.png" "file://$work/dashboard.html" >/dev/null 2>&1
cp "$work/dashboard.png" "$out"
echo "== Wrote $out ($(wc -l <"$work/orders.jsonl") orders in the file, $(sql -At -c 'SELECT count(*) FROM pgtrickle.inbox_payments') payments in the inbox, $(sql -At -c 'SELECT count(*) FROM pgtrickle.relay_dead_letters') dead letters)"
