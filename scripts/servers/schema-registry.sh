#!/usr/bin/env bash
# A schema registry for the tests: Apicurio Registry 3.0.9 (the release that runs on Java 17, from
# scripts/install-deps.sh), its storage in <dir> (a registry stopped and started again keeps its
# schemas), its Confluent-compatible API at /apis/ccompat/v7. The server comes from Maven Central as
# a tarball, fetched and unpacked once into a cache beside the Java tools' (scripts/java-tools.sh).
#   scripts/servers/schema-registry.sh start <dir> [port] [--tls <cert> <key>] [--basic <user> <password>]
#     prints PGTRICKLE_TEST_SCHEMA_REGISTRY_URL=http://127.0.0.1:<port>/apis/ccompat/v7
#     (<port+1> is its management port). With --tls it answers HTTPS only, with that certificate
#     and key (PEM); with --basic, only requests with that user and password (HTTP basic auth).
#   scripts/servers/schema-registry.sh stop <dir>
set -euo pipefail
# shellcheck source=lib/pid_file.sh
source "$(dirname "$0")/lib/pid_file.sh"
cmd=${1:?usage: schema-registry.sh start|stop <dir> [port]}
dir=${2:?directory required}
port=${3:-55488}
[ $# -ge 3 ] && shift 3 || shift $#
scheme=http
security=()
auth=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tls)
      scheme=https
      security+=(-Dquarkus.http.ssl-port="$port" -Dquarkus.http.insecure-requests=disabled
                 -Dquarkus.http.ssl.certificate.files="$(realpath "$2")" -Dquarkus.http.ssl.certificate.key-files="$(realpath "$3")")
      shift 3 ;;
    --basic)
      security+=(-Dquarkus.http.auth.basic=true -Dquarkus.security.users.embedded.enabled=true
                 -Dquarkus.security.users.embedded.plain-text=true -Dquarkus.security.users.embedded.users."$2"="$3"
                 -Dquarkus.http.auth.permission.all.paths=/* -Dquarkus.http.auth.permission.all.policy=authenticated)
      auth=(-u "$2:$3")
      shift 3 ;;
    *) echo "unknown option $1: expected --tls <cert> <key> or --basic <user> <password>" >&2; exit 2 ;;
  esac
done
version=3.0.9
case "$cmd" in
  start)
    dir=$(realpath -m "$dir")
    if [ -f "$dir/registry.pid" ] && kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
      echo "the schema registry already runs from $dir (pid $(cat "$dir/registry.pid")); stop it first" >&2; exit 1
    fi
    mkdir -p "$dir"
    base=${PGTRICKLE_JAVA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgtrickle-relay/java}
    app=$base/apicurio-registry-$version
    mkdir -p "$base"
    exec 9>"$app.lock"
    flock 9
    if [ ! -f "$app/ready" ]; then
      rm -rf "$app" && mkdir -p "$app"
      # Its parent POM is not on Maven Central: the tarball alone, without its descriptor.
      mvn -B -q dependency:get -Dartifact=io.apicurio:apicurio-registry-app:$version:tar.gz:all -Dtransitive=false \
        -Dmaven.repo.local="$app/m2" >"$app/mvn.log" 2>&1 || { cat "$app/mvn.log" >&2; exit 1; }
      tar -xzf "$app/m2/io/apicurio/apicurio-registry-app/$version/apicurio-registry-app-$version-all.tar.gz" -C "$app"
      rm -rf "$app/m2"
      touch "$app/ready"
    fi
    flock -u 9
    (cd "$dir" && exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
      -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=$((port + 1)) \
      -Dapicurio.datasource.url="jdbc:h2:file:$dir/data/registry" "${security[@]}" \
      -jar "$app/apicurio-registry-app-$version-runner.jar" </dev/null >"$dir/registry.log" 2>&1) &
    echo $! >"$dir/registry.pid"
    url="$scheme://127.0.0.1:$port/apis/ccompat/v7"
    wait_started "$dir/registry.pid" "$dir/registry.log" "the schema registry" curl -sfk "${auth[@]}" "$url/subjects" -o /dev/null || exit 1
    echo "PGTRICKLE_TEST_SCHEMA_REGISTRY_URL=$url"
    ;;
  stop)
    stop_pid_file "$dir/registry.pid"
    ;;
  *) echo "usage: schema-registry.sh start|stop <dir> [port]" >&2; exit 2 ;;
esac
