#!/usr/bin/env bash
# Apache Kafka 4.4 for the tests and benchmarks: one KRaft node that is its own controller, from
# Maven Central's jars (tests/java/kafka-broker, fetched once into a cache by scripts/java-tools.sh;
# Java 17 and Maven from scripts/install-deps.sh). Its data stays in <dir>, so a restart keeps topics
# and group offsets. Topics are auto-created with 3 partitions.
#   scripts/servers/kafka.sh start <dir> [port]   prints, one per line:
#     PGTRICKLE_TEST_KAFKA_BROKERS=127.0.0.1:<port>                 PLAINTEXT
#     PGTRICKLE_TEST_KAFKA_SASL_BROKERS=127.0.0.1:<port+2>          SASL_PLAINTEXT (SCRAM-SHA-256 and -512)
#     PGTRICKLE_TEST_KAFKA_SASL_SSL_BROKERS=127.0.0.1:<port+3>      SASL_SSL, its certificate signed by:
#     PGTRICKLE_TEST_KAFKA_CA=<dir>/tls/ca.pem
#   The SCRAM user is `relay`, password `relay-secret` (both mechanisms); <port+1> is the controller's.
#   scripts/servers/kafka.sh stop <dir>           a controlled shutdown (SIGTERM), then waits for it
# KAFKA_SERVER_PROPERTIES, when set, holds more lines for server.properties (e.g.
# "auto.create.topics.enable=false"); a later line wins.
set -euo pipefail
# shellcheck source=lib/pid_file.sh
source "$(dirname "$0")/lib/pid_file.sh"
cmd=${1:?usage: kafka.sh start|stop <dir> [port]}
dir=${2:?directory required}
port=${3:-55484}
root=$(cd "$(dirname "$0")/../.." && pwd)
case "$cmd" in
  start)
    dir=$(realpath -m "$dir")
    if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
      echo "Kafka already runs from $dir (pid $(cat "$dir/kafka.pid")); stop it first" >&2; exit 1
    fi
    mkdir -p "$dir/tls" "$dir/data"
    if [ ! -f "$dir/tls/broker.p12" ]; then
      # A self-signed certificate for localhost and 127.0.0.1 (clients check the name).
      openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/tls/broker.key" -out "$dir/tls/ca.pem" -days 3650 \
        -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
      openssl pkcs12 -export -in "$dir/tls/ca.pem" -inkey "$dir/tls/broker.key" -out "$dir/tls/broker.p12" \
        -name broker -passout pass:changeit
    fi
    jaas="org.apache.kafka.common.security.scram.ScramLoginModule required;"
    cat >"$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((port + 1))
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1)),SASL_PLAINTEXT://127.0.0.1:$((port + 2)),SASL_SSL://127.0.0.1:$((port + 3))
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$((port + 2)),SASL_SSL://127.0.0.1:$((port + 3))
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$jaas
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$jaas
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$jaas
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$jaas
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$dir/tls/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=changeit
listener.name.sasl_ssl.ssl.key.password=changeit
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
${KAFKA_SERVER_PROPERTIES:-}
PROPERTIES
    rm -f "$dir/broker.log"
    # Log4j's own variable, not a -D option: the clone's path may hold spaces, and JAVA_OPTS is split on them.
    LOG4J_CONFIGURATION_FILE="$root/tests/java/kafka-broker/log4j2.properties" JAVA_OPTS="-Xmx512m -XX:+UseSerialGC" \
      "$root/scripts/java-tools.sh" kafka-broker "$dir/server.properties" "$dir/data" \
      'SCRAM-SHA-256=[name=relay,password=relay-secret]' 'SCRAM-SHA-512=[name=relay,password=relay-secret]' \
      </dev/null >"$dir/broker.log" 2>&1 &
    echo $! >"$dir/kafka.pid"
    # The first start fetches the jars; a restart after a kill -9 recovers its logs first.
    started() { grep -q "Kafka Server started" "$dir/broker.log" 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; }
    wait_started "$dir/kafka.pid" "$dir/broker.log" Kafka started || exit 1
    echo "PGTRICKLE_TEST_KAFKA_BROKERS=127.0.0.1:$port"
    echo "PGTRICKLE_TEST_KAFKA_SASL_BROKERS=127.0.0.1:$((port + 2))"
    echo "PGTRICKLE_TEST_KAFKA_SASL_SSL_BROKERS=127.0.0.1:$((port + 3))"
    echo "PGTRICKLE_TEST_KAFKA_CA=$dir/tls/ca.pem"
    ;;
  stop)
    stop_pid_file "$dir/kafka.pid"
    ;;
  *) echo "usage: kafka.sh start|stop <dir> [port]" >&2; exit 2 ;;
esac
