#!/usr/bin/env bash
# nats-server with JetStream for the tests and benchmarks.
#   scripts/servers/nats.sh start <dir> [port]  -> prints PGTRICKLE_TEST_NATS_URL=...
#   scripts/servers/nats.sh stop  <dir>
# Extra nats-server arguments (e.g. --auth <token>) may be given in NATS_SERVER_ARGS.
set -euo pipefail
cmd=${1:?usage: nats.sh start|stop <dir> [port]}
dir=${2:?directory required}
port=${3:-55480}
case "$cmd" in
  start)
    mkdir -p "$dir/store"
    : >"$dir/nats.log"  # a restart reuses the directory: only this start's lines count
    nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/store" -l "$dir/nats.log" -P "$dir/nats.pid" ${NATS_SERVER_ARGS:-} </dev/null >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 100); do
      # Ready by its own word: something else listening on the port would answer a connect too.
      if grep -q "Server is ready" "$dir/nats.log" 2>/dev/null && kill -0 "$server" 2>/dev/null; then
        echo "PGTRICKLE_TEST_NATS_URL=nats://127.0.0.1:$port"; exit 0
      fi
      kill -0 "$server" 2>/dev/null || break  # it gave up (e.g. the port is taken): say why at once
      sleep 0.1
    done
    echo "nats-server did not start; its log ($dir/nats.log) ends with:" >&2
    tail -n 5 "$dir/nats.log" >&2 2>/dev/null || true
    exit 1
    ;;
  stop)
    [ -f "$dir/nats.pid" ] && kill "$(cat "$dir/nats.pid")" 2>/dev/null || true
    ;;
esac
