#!/usr/bin/env bash
# rabbitmq-server for the tests and benchmarks: its own node, ports, epmd and files under <dir>.
#   scripts/servers/rabbitmq.sh start <dir> [port] [cert-dir]  -> prints PGTRICKLE_TEST_RABBITMQ_URL=...
#   scripts/servers/rabbitmq.sh stop  <dir>
# Ports: AMQP <port> (55482), Erlang distribution <port>+100, epmd <port>+200, so a system
# RabbitMQ or another test node on this machine is never touched. With <cert-dir> (made by
# tests/fixtures/make-certs.sh) there is also AMQPS on <port>+1, requiring a client certificate.
set -euo pipefail
cmd=${1:?usage: rabbitmq.sh start|stop <dir> [port] [cert-dir]}
dir=${2:?directory required}
port=${3:-55482}
certs=${4:-}
bin=/usr/lib/rabbitmq/bin
# The rabbitmq user may not enter the caller's directory (a clone under root's home).
dir=$(realpath -m "$dir")
[ -z "$certs" ] || certs=$(realpath -m "$certs")
cd /

# The node's files must belong to the rabbitmq user; its CLI tools need the same user (cookie)
# and the same environment to find the node.
as_rabbitmq() {
  if [ "$(id -u)" = 0 ]; then runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq "$@"; else "$@"; fi
}
load_env() {
  port=$(cat "$dir/port")
  export RABBITMQ_NODENAME="pgtrickle_test_$port@localhost"
  export ERL_EPMD_PORT=$((port + 200))
}
ctl() { as_rabbitmq env ERL_EPMD_PORT="$ERL_EPMD_PORT" "$bin/$1" -n "$RABBITMQ_NODENAME" "${@:2}"; }

case "$cmd" in
  start)
    mkdir -p "$dir/mnesia" "$dir/log"
    echo "$port" >"$dir/port"
    load_env
    echo "[]." >"$dir/enabled_plugins"  # no plugins: a faster start
    : >"$dir/rabbitmq.conf"
    ready_port=$port
    if [ -n "$certs" ]; then
      mkdir -p "$dir/certs"
      cp "$certs/ca.pem" "$certs/server.pem" "$certs/server.key" "$dir/certs/"
      cat >"$dir/rabbitmq.conf" <<EOF
listeners.ssl.default = 127.0.0.1:$((port + 1))
ssl_options.cacertfile = $dir/certs/ca.pem
ssl_options.certfile = $dir/certs/server.pem
ssl_options.keyfile = $dir/certs/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
EOF
      ready_port=$((port + 1))
    fi
    [ "$(id -u)" = 0 ] && chown -R rabbitmq:rabbitmq "$dir"
    chmod 755 "$dir"
    # No scheduler busy-waiting (RabbitMQ's advice for hosts with few cores): a spinning broker
    # takes CPU from PostgreSQL and the relay sharing the machine.
    as_rabbitmq env \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none" \
      RABBITMQ_NODENAME="$RABBITMQ_NODENAME" ERL_EPMD_PORT="$ERL_EPMD_PORT" \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT=$((port + 100)) \
      RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
      "$bin/rabbitmq-server" </dev/null >"$dir/log/startup.log" 2>&1 &
    server=$!
    for _ in $(seq 120); do
      if ctl rabbitmq-diagnostics -q ping >/dev/null 2>&1 && (exec 3<>/dev/tcp/127.0.0.1/"$ready_port") 2>/dev/null; then
        echo "PGTRICKLE_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$port/"
        exit 0
      fi
      kill -0 "$server" 2>/dev/null || break  # the node gave up: say why at once
      sleep 0.5
    done
    echo "rabbitmq-server did not start; see $dir/log. Its last words:" >&2
    tail -n 20 "$dir/log/startup.log" "$dir/log/$RABBITMQ_NODENAME.log" >&2 2>/dev/null || true
    exit 1
    ;;
  stop)
    [ -f "$dir/port" ] || exit 0
    load_env
    ctl rabbitmqctl -q stop >/dev/null 2>&1 || true
    # epmd was started by this node on its own port; it exits once no node is registered.
    epmd=$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n 1 || true)
    [ -n "$epmd" ] && as_rabbitmq env ERL_EPMD_PORT="$ERL_EPMD_PORT" "$epmd" -kill >/dev/null 2>&1 || true
    ;;
esac
