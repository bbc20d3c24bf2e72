#!/usr/bin/env bash
# redis-server for the tests and benchmarks (no persistence: throwaway data).
#   scripts/servers/redis.sh start <dir> [port]  -> prints PGTRICKLE_TEST_REDIS_URL=...
#   scripts/servers/redis.sh stop  <dir>
# Extra redis-server arguments (e.g. --appendonly yes, which keeps the data across a restart) may
# be given in REDIS_SERVER_ARGS; they override the defaults above.
set -euo pipefail
cmd=${1:?usage: redis.sh start|stop <dir> [port]}
dir=${2:?directory required}
port=${3:-55481}
case "$cmd" in
  start)
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" ${REDIS_SERVER_ARGS:-} >/dev/null
    for _ in $(seq 100); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && { echo "PGTRICKLE_TEST_REDIS_URL=redis://127.0.0.1:$port/0"; exit 0; }
      sleep 0.1
    done
    echo "redis-server did not start; see $dir/redis.log" >&2; exit 1
    ;;
  stop)
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    ;;
esac
