#!/usr/bin/env bash
# The full test run: install what is needed, build while the real servers the tests use start, run
# every test, stop the servers. Usage: scripts/test.sh [ctest arguments, e.g. -R outbox]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Each phase's time since the start, to see where a run's time goes (docs/testing.md).
phase() { printf '== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
phase "dependencies"
scripts/install-deps.sh
scripts/install-deps.sh arm64  # the arm64 package's cross build and qemu (tests/package/check-arm64.sh)
work=$(mktemp -d /tmp/pgtrickle-relay-test.XXXXXX)
chmod 755 "$work"
# Servers started during the run (fault cases, TLS tests) listen on fixed ports in 55400-55999, inside
# the kernel's ephemeral range: keep it from handing those ports to outgoing connections or to the
# relays' /metrics listeners on port 0, which could hold one just when a test needs it.
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
reserved_before=$(cat "$reserved" 2>/dev/null || true)
if [ -w "$reserved" ]; then echo "55400-55999${reserved_before:+,$reserved_before}" >"$reserved" 2>/dev/null || true; fi
# A process and all it started (the servers' start, the side build's compilers, when the run ends early).
kill_tree() {
  local child
  for child in $(pgrep -P "$1" || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
side_build="" servers=""
cleanup() {
  [ -z "$servers" ] || kill_tree "$servers"
  [ -z "$side_build" ] || kill_tree "$side_build"
  for server in scripts/servers/*.sh; do bash "$server" stop "$work/$(basename "$server" .sh)" || true; done
  scripts/pg-server.sh stop "$work/pg" || true
  scripts/pg-server.sh stop "$work/pg17" || true
  scripts/pg-server.sh stop "$work/pg18" || true
  rm -rf "$work"
  if [ -w "$reserved" ]; then echo "$reserved_before" >"$reserved" 2>/dev/null || true; fi
}
trap cleanup EXIT

# The servers the tests use, started beside the build (a first start is mostly downloads, and Debian
# roots made once): prints NAME=VALUE lines naming them; what it says goes to standard error.
start_servers() {
  # A fake pg_trickle extension (SQL only) lets the tests check compatibility with pg_trickle's objects.
  bash tests/fixtures/pg_trickle_fake/install.sh >&2
  local url
  url=$(scripts/pg-server.sh start "$work/pg" "${PGTRICKLE_TEST_PG_PORT:-55433}")
  echo "PGTRICKLE_TEST_POSTGRES_URL=$url"
  # PostgreSQL 17 (Debian 13's) and 18 (Debian testing's), each run from a root of its release
  # (scripts/debian-root.sh): the pg17.* and pg18.* entries run the server-facing tests against them.
  # Without root or the Debian archive to make those roots, they say so and are skipped.
  local other_pg version release port rc
  for other_pg in "17 trixie ${PGTRICKLE_TEST_PG17_PORT:-55434}" "18 forky ${PGTRICKLE_TEST_PG18_PORT:-55444}"; do
    read -r version release port <<<"$other_pg"
    rc=0
    url=$(PGTRICKLE_PG_RELEASE=$release scripts/pg-server.sh start "$work/pg$version" "$port" 2>"$work/pg$version.log") || rc=$?
    if [ "$rc" = 0 ]; then
      bash tests/fixtures/pg_trickle_fake/install.sh \
        "$(ls -d "$(scripts/debian-root.sh path "$release" server)"/usr/share/postgresql/*/extension | sort -V | tail -n 1)" >/dev/null
      echo "PGTRICKLE_TEST_PG${version}_URL=$url"
    elif [ "$rc" = 75 ] || [ "$(id -u)" != 0 ]; then
      echo "PostgreSQL $version for tests: none, the pg$version.* tests are skipped:" >&2
      sed 's/^/  /' "$work/pg$version.log" >&2
    else
      cat "$work/pg$version.log" >&2
      return 1
    fi
  done
  # The brokers (each script prints the variables naming its server, e.g. PGTRICKLE_TEST_NATS_URL=...).
  local server
  for server in scripts/servers/*.sh; do
    bash "$server" start "$work/$(basename "$server" .sh)" || return 1
  done
}

phase "build, and the servers beside it"
start_servers >"$work/servers.env" 2>"$work/servers.log" &
servers=$!
scripts/build.sh
# A full run also builds the relay under sanitizers (scripts/sanitize.sh) and the fuzz targets
# (fuzz/run.sh), beside the servers' start and the tests, at a lower priority than the tests.
full=$([ $# -eq 0 ] && echo 1 || true)
side_log="$work/side-build.log"
if [ -n "$full" ]; then
  nice -n 10 bash -c 'scripts/sanitize.sh build && fuzz/run.sh build' >"$side_log" 2>&1 &
  side_build=$!
fi

if ! wait "$servers"; then
  cat "$work/servers.log" >&2
  echo "a test server did not start" >&2
  exit 1
fi
servers=""
cat "$work/servers.log"
while IFS= read -r assignment; do
  export "${assignment?}"
  echo "  $assignment"
done <"$work/servers.env"
export PGTRICKLE_TEST_WORK_DIR="$work"

phase "tests"
# Three at a time on two cores: most tests wait on servers and timers (load stays under 2 with two).
ctest --test-dir build --output-on-failure --parallel "${PGTRICKLE_TEST_PARALLEL:-3}" --timeout 600 "$@"
if [ -n "$full" ]; then
  phase "the sanitizers' and fuzz targets' build (begun beside the tests)"
  if ! wait "$side_build"; then
    cat "$side_log" >&2
    echo "the sanitizers' or the fuzz targets' build failed" >&2
    exit 1
  fi
  # The parsers under libFuzzer with sanitizers, for a bounded time, one at a time on one core,
  # beside the relay under sanitizers (whose tests mostly wait on servers).
  phase "fuzzing, and the sanitizers' runs beside it"
  FUZZ_JOBS=1 fuzz/run.sh "${PGTRICKLE_FUZZ_SECONDS:-30}" >"$work/fuzz.log" 2>&1 &
  side_build=$!
  sanitized=0
  scripts/sanitize.sh run || sanitized=$?
  fuzzed=0
  wait "$side_build" || fuzzed=$?
  side_build=""
  cat "$work/fuzz.log"
  [ "$sanitized" = 0 ] || { echo "the sanitizers found something (above)" >&2; exit 1; }
  [ "$fuzzed" = 0 ] || { echo "fuzzing found something (above)" >&2; exit 1; }
fi
phase "done"
