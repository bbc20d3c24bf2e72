#!/usr/bin/env bash
# Runs a Java program of the tests (tests/java/<name>/: a pom.xml naming what it runs on from Maven
# Central, and one .java file, its main class), fetched and compiled once into a cache that follows
# the sources (scripts/install-deps.sh installs Java 17 and Maven).
#   scripts/java-tools.sh <name> [args...]
# JAVA_OPTS, when set, holds the JVM's own options (e.g. -Xmx512m).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=${1:?usage: java-tools.sh <name> [args...]}
shift
src=$root/tests/java/$name
[ -f "$src/pom.xml" ] || { echo "no Java program tests/java/$name" >&2; exit 2; }
main=$(basename "$(ls "$src"/*.java | head -n 1)" .java)
base=${PGTRICKLE_JAVA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgtrickle-relay/java}
cache=$base/$name-$(cat "$src"/pom.xml "$src"/*.java | sha256sum | cut -c1-16)
mkdir -p "$base"
# Tests run in parallel: one of them builds, the others wait for it.
exec 9>"$cache.lock"
flock 9
if [ ! -f "$cache/ready" ]; then
  rm -rf "$cache" && mkdir -p "$cache/lib" "$cache/classes"
  mvn -B -f "$src/pom.xml" dependency:copy-dependencies -DoutputDirectory="$cache/lib" >"$cache/mvn.log" 2>&1 \
    || { cat "$cache/mvn.log" >&2; exit 1; }
  javac -nowarn -d "$cache/classes" -cp "$cache/lib/*" "$src"/*.java >&2
  touch "$cache/ready"
fi
flock -u 9
# shellcheck disable=SC2086  # JAVA_OPTS holds several words
exec java ${JAVA_OPTS:-} -cp "$cache/classes:$cache/lib/*" "$main" "$@"
