#!/usr/bin/env bash
# Runs the benchmarks on a throwaway PostgreSQL (same machine) and prints the figures beside the
# previous ones. Usage: bench/run.sh [--rows N] [--save]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh
work=$(mktemp -d /tmp/pgtrickle-relay-bench.XXXXXX)
chmod 755 "$work"
trap 'scripts/pg-server.sh stop "$work/pg"; rm -rf "$work"' EXIT
url=$(scripts/pg-server.sh start "$work/pg" "${PGTRICKLE_BENCH_PG_PORT:-55470}")
build/bench/relay_bench --postgres-url "$url" "$@"
