#!/usr/bin/env bash
# Kafka for the tests and benchmarks: librdkafka's mock cluster (real Kafka protocol on real
# sockets; no broker package exists here), hosted by tests/integration/kafka/broker/mock_broker.cc,
# which this script compiles into <dir>. Topics are auto-created with 4 partitions.
#   scripts/servers/kafka.sh start <dir> [port]  -> prints PGTRICKLE_TEST_KAFKA_BROKERS=127.0.0.1:<port>
#   scripts/servers/kafka.sh stop  <dir>
# While it runs, lines written to <dir>/control steer it: "down", "up", "topic <name> <partitions>",
# "fail <error code> <count>" (see mock_broker.cc).
set -euo pipefail
cmd=${1:?usage: kafka.sh start|stop <dir> [port]}
dir=${2:?directory required}
port=${3:-55484}
root=$(cd "$(dirname "$0")/../.." && pwd)
case "$cmd" in
  start)
    mkdir -p "$dir"
    c++ -std=c++20 -O1 -o "$dir/mock_broker" "$root/tests/integration/kafka/broker/mock_broker.cc" \
      $(pkg-config --cflags --libs rdkafka) -ldl >&2
    rm -f "$dir/broker.out"
    "$dir/mock_broker" "$port" "$dir/control" </dev/null >"$dir/broker.out" 2>"$dir/broker.log" &
    echo $! >"$dir/broker.pid"
    for _ in $(seq 100); do
      if [ -s "$dir/broker.out" ] && (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
        echo "PGTRICKLE_TEST_KAFKA_BROKERS=$(head -n1 "$dir/broker.out")"
        exit 0
      fi
      kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "the mock Kafka broker did not start; see $dir/broker.log" >&2; exit 1
    ;;
  stop)
    [ -f "$dir/broker.pid" ] && kill "$(cat "$dir/broker.pid")" 2>/dev/null || true
    ;;
esac
