#!/usr/bin/env bash
# Runs the benchmarks on a throwaway PostgreSQL (same machine) and prints the figures beside the
# previous ones. Usage: bench/run.sh [--rows N] [--reverse-rows N] [--only TARGET]... [--save]
# Forward targets: file kafka (json, exactly once, format debezium without and with schemas, and in Avro through the schema registry) redis webhook webhook_batched nats rabbitmq sqs; reverse targets:
# reverse_redis reverse_nats reverse_kafka reverse_rabbitmq reverse_sqs reverse_http reverse_http_batched;
# failover: takeover; the writers' cost of capture: capture; a 1,000,000-row backfill: backfill;
# pgstream subscriptions' cost to writers and retention by partition drop: subscriptions; many tables
# captured from the WAL through one slot (drain, server CPU, 1,000 tables): wal_tables; N = 10 to 1,000
# trigger-captured pipelines in one relay (connections, idle CPU, latency): many_pipelines; one
# 1,000,000-row transaction through each capture beside pg_recvlogical: big_transaction; the reverse
# path beside Debezium's JDBC sink connector: jdbc_sink.
# bench/run.sh memory [--stuck-seconds S] [--big-rows N]: peak memory of the relay under a stuck
# sink and a 1,000,000-row claim-check delta (bench/memory_bench.cpp) instead of the above.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh
work=$(mktemp -d /tmp/pgtrickle-relay-bench.XXXXXX)
chmod 755 "$work"
stop_all() {
  for server in scripts/servers/*.sh; do bash "$server" stop "$work/$(basename "$server" .sh)" || true; done
  scripts/pg-server.sh stop "$work/pg"
  rm -rf "$work"
}
trap stop_all EXIT
# PostgreSQL at its default max_connections, as users run it.
url=$(PGTRICKLE_PG_MAX_CONNECTIONS=${PGTRICKLE_PG_MAX_CONNECTIONS:-100} scripts/pg-server.sh start "$work/pg" "${PGTRICKLE_BENCH_PG_PORT:-55470}")
if [ "${1:-}" = memory ]; then
  build/bench/memory_bench --postgres-url "$url" "${@:2}"
  exit
fi
# The brokers, on the ports the tests use (do not run the benchmark during a test run).
for server in scripts/servers/*.sh; do
  while IFS= read -r assignment; do export "${assignment?}"; done < <(bash "$server" start "$work/$(basename "$server" .sh)")
done
build/bench/relay_bench --postgres-url "$url" "$@"
