#!/usr/bin/env bash
# The SQS emulator (npm fauxqs, from tests/node/node_modules) for the tests and benchmarks; its
# queues live in memory. Queue URLs it hands out use the host sqs.<region>.localhost:<port>.
#   scripts/servers/sqs.sh start <dir> [port]  -> prints PGTRICKLE_TEST_SQS_ENDPOINT=...
#   scripts/servers/sqs.sh stop  <dir>
set -euo pipefail
cmd=${1:?usage: sqs.sh start|stop <dir> [port]}
dir=${2:?directory required}
port=${3:-55483}
root=$(cd "$(dirname "$0")/../.." && pwd)
case "$cmd" in
  start)
    mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
    cd "$root/tests/node"  # where node finds the fauxqs package
    FAUXQS_PORT=$port nohup node --input-type=module \
      -e 'const m = await import("fauxqs"); await m.startFauxqs({ port: Number(process.env.FAUXQS_PORT), logger: false });' \
      </dev/null >"$dir/fauxqs.log" 2>&1 &
    echo $! >"$dir/fauxqs.pid"
    for _ in $(seq 150); do
      if curl -s -o /dev/null -X POST -H 'Content-Type: application/x-amz-json-1.0' \
           -H 'X-Amz-Target: AmazonSQS.ListQueues' -d '{}' "http://127.0.0.1:$port/" 2>/dev/null; then
        echo "PGTRICKLE_TEST_SQS_ENDPOINT=http://127.0.0.1:$port"
        exit 0
      fi
      kill -0 "$(cat "$dir/fauxqs.pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "fauxqs did not start; see $dir/fauxqs.log" >&2; exit 1
    ;;
  stop)
    [ -f "$dir/fauxqs.pid" ] && kill "$(cat "$dir/fauxqs.pid")" 2>/dev/null || true
    ;;
esac
