#!/usr/bin/env bash
# The full test run: install what is needed, build, start the real servers the tests use, run
# every test, stop the servers. Usage: scripts/test.sh [ctest arguments, e.g. -R outbox]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/install-deps.sh arm64  # the arm64 package's cross build and qemu (tests/package/check-arm64.sh)
scripts/build.sh
# A full run also builds the relay under sanitizers (scripts/sanitize.sh), beside the servers' start.
full=$([ $# -eq 0 ] && echo 1 || true)
sanitize_build=""
if [ -n "$full" ]; then
  scripts/sanitize.sh build >"${TMPDIR:-/tmp}/pgtrickle-relay-sanitize-build.log" 2>&1 &
  sanitize_build=$!
fi

work=$(mktemp -d /tmp/pgtrickle-relay-test.XXXXXX)
chmod 755 "$work"
# Servers started during the run (fault cases, TLS tests) listen on fixed ports in 55400-55999, inside
# the kernel's ephemeral range: keep it from handing those ports to outgoing connections or to the
# relays' /metrics listeners on port 0, which could hold one just when a test needs it.
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
reserved_before=$(cat "$reserved" 2>/dev/null || true)
if [ -w "$reserved" ]; then echo "55400-55999${reserved_before:+,$reserved_before}" >"$reserved" 2>/dev/null || true; fi
cleanup() {
  for server in scripts/servers/*.sh; do bash "$server" stop "$work/$(basename "$server" .sh)" || true; done
  scripts/pg-server.sh stop "$work/pg" || true
  scripts/pg-server.sh stop "$work/pg17" || true
  scripts/pg-server.sh stop "$work/pg18" || true
  rm -rf "$work"
  if [ -w "$reserved" ]; then echo "$reserved_before" >"$reserved" 2>/dev/null || true; fi
}
trap cleanup EXIT

# A fake pg_trickle extension (SQL only) lets the tests check compatibility with pg_trickle's objects.
bash tests/fixtures/pg_trickle_fake/install.sh

export PGTRICKLE_TEST_POSTGRES_URL
PGTRICKLE_TEST_POSTGRES_URL=$(scripts/pg-server.sh start "$work/pg" "${PGTRICKLE_TEST_PG_PORT:-55433}")
export PGTRICKLE_TEST_WORK_DIR="$work"
echo "PostgreSQL for tests: $PGTRICKLE_TEST_POSTGRES_URL"
# PostgreSQL 17 (Debian 13's) and 18 (Debian testing's), each run from a root of its release
# (scripts/debian-root.sh): the pg17.* and pg18.* entries run the server-facing tests against them.
# Without root or the Debian archive to make those roots, they say so and are skipped.
for other_pg in "17 trixie ${PGTRICKLE_TEST_PG17_PORT:-55434}" "18 forky ${PGTRICKLE_TEST_PG18_PORT:-55444}"; do
  read -r version release port <<<"$other_pg"
  rc=0
  url=$(PGTRICKLE_PG_RELEASE=$release scripts/pg-server.sh start "$work/pg$version" "$port" 2>"$work/pg$version.log") || rc=$?
  if [ "$rc" = 0 ]; then
    bash tests/fixtures/pg_trickle_fake/install.sh \
      "$(ls -d "$(scripts/debian-root.sh path "$release" server)"/usr/share/postgresql/*/extension | sort -V | tail -n 1)" >/dev/null
    export "PGTRICKLE_TEST_PG${version}_URL=$url"
    echo "PostgreSQL $version for tests: $url"
  elif [ "$rc" = 75 ] || [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL $version for tests: none, the pg$version.* tests are skipped:"
    sed 's/^/  /' "$work/pg$version.log"
  else
    cat "$work/pg$version.log" >&2
    exit 1
  fi
done

# The brokers (each script prints the variables naming its server, e.g. PGTRICKLE_TEST_NATS_URL=...).
for server in scripts/servers/*.sh; do
  while IFS= read -r assignment; do
    export "${assignment?}"
    echo "  $assignment"
  done < <(bash "$server" start "$work/$(basename "$server" .sh)")
done

if [ -n "$sanitize_build" ] && ! wait "$sanitize_build"; then
  cat "${TMPDIR:-/tmp}/pgtrickle-relay-sanitize-build.log" >&2
  echo "the sanitizers' build failed" >&2
  exit 1
fi
ctest --test-dir build --output-on-failure --parallel 2 --timeout 600 "$@"
if [ -n "$full" ]; then
  # The parsers under libFuzzer with sanitizers, for a bounded time; the relay under sanitizers.
  fuzz/run.sh "${PGTRICKLE_FUZZ_SECONDS:-30}"
  scripts/sanitize.sh run
fi
