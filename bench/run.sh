#!/usr/bin/env bash
# Runs the benchmarks on a throwaway PostgreSQL (same machine) and prints the figures beside the
# previous ones. Usage: bench/run.sh [--rows N] [--reverse-rows N] [--only TARGET]... [--save]
# Forward targets: file kafka redis webhook webhook_batched nats rabbitmq sqs; reverse targets:
# reverse_redis reverse_nats reverse_kafka reverse_rabbitmq reverse_sqs reverse_http reverse_http_batched.
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
url=$(scripts/pg-server.sh start "$work/pg" "${PGTRICKLE_BENCH_PG_PORT:-55470}")
# The brokers, on the ports the tests use (do not run the benchmark during a test run).
for server in scripts/servers/*.sh; do
  while IFS= read -r assignment; do export "${assignment?}"; done < <(bash "$server" start "$work/$(basename "$server" .sh)")
done
build/bench/relay_bench --postgres-url "$url" "$@"
