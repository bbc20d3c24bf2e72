#!/usr/bin/env bash
# The relay under sanitizers (docs/testing.md, "Sanitizers"): builds into ./build-asan
# (AddressSanitizer + UndefinedBehaviorSanitizer) and ./build-tsan (ThreadSanitizer), then runs
#   address: every unit test, the shared pieces' tests (tests/pieces), and the integration tests
#            that drive the executor, the connection pool, the outbox listener, the WAL reader and
#            every sink, with the sanitized relay as the relay they start;
#   thread:  the shared pieces' tests: the executor, and the pool, the numbering rounds and the
#            listener driven from many threads against PostgreSQL.
# Any sanitizer report, in a test or in a relay a test started, fails the run: reports go to files
# under the work directory (a relay's stderr is often not read), which are printed at the end.
#   scripts/sanitize.sh build [address|thread]   build (scripts/test.sh does it beside its servers)
#   scripts/sanitize.sh run [address|thread]     run, once ./build holds the integration tests and
#                                                the servers of scripts/test.sh are up (the
#                                                PGTRICKLE_TEST_* variables name them)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: scripts/sanitize.sh build|run [address|thread]}
kinds=("${@:2}")
[ ${#kinds[@]} -gt 0 ] || kinds=(address thread)

. "$root/scripts/compiler-cache.sh"
use_compiler_cache "$root"

# The integration tests run with the sanitized relay: those that drive its threaded and hand-written
# pieces, kept to a few minutes (docs/testing.md lists them).
address_filter="Forward.*:Reverse.*:Connections.ARelayHolds*:WalCapture.*:WalReader.*:WalStream.*:WalStreaming.*:WalRows.*:WalTables.*"
address_filter+=":NatsSink.*:RedisSink.*:RabbitmqSink.*:Sqs.*:Kafka.*:Webhook.*:SqlDestinations.*:HttpSource.*:Console.*"

build() {
  local kind=$1 dir="$root/build-${1:0:1}san"
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAY_SANITIZE="$kind" \
    -DCMAKE_C_COMPILER_LAUNCHER:STRING="$launcher" -DCMAKE_CXX_COMPILER_LAUNCHER:STRING="$launcher" \
    -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_BENCH=OFF >/dev/null
  local targets=(relay_piece_tests)
  [ "$kind" = thread ] || targets+=(relay_unit_tests pgtrickle-relay)
  cmake --build "$dir" --parallel "${SANITIZE_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"
}

# Runs a test binary with the sanitizer's reports written under $reports; fails on a report.
run() {
  local kind=$1 dir="$root/build-${1:0:1}san" reports
  reports=$(mktemp -d "${PGTRICKLE_TEST_WORK_DIR:-/tmp}/sanitizer-$kind.XXXXXX")
  # Paths quoted: the sanitizers split their options at spaces, and a clone's path may hold one.
  local options="halt_on_error=1:log_path='$reports/report'"
  local suppressions="$root/tests/sanitizers/$kind.supp"
  export ASAN_OPTIONS="$options:detect_leaks=1:abort_on_error=0"
  export UBSAN_OPTIONS="$options:print_stacktrace=1"
  export LSAN_OPTIONS="suppressions='$root/tests/sanitizers/leak.supp'"
  export TSAN_OPTIONS="$options:second_deadlock_stack=1${suppressions:+:suppressions='$suppressions'}"
  local rc=0
  echo "sanitize ($kind): unit tests"
  if [ "$kind" = address ]; then "$dir/tests/relay_unit_tests" --gtest_brief=1 || rc=1; fi
  echo "sanitize ($kind): the shared pieces' tests (the executor, the pool, the numbering, the listener)"
  "$dir/tests/relay_piece_tests" --gtest_brief=1 || rc=1
  if [ "$kind" = address ]; then
    # The integration tests of the regular build, starting the sanitized relay.
    echo "sanitize ($kind): integration tests ($address_filter)"
    PGTRICKLE_TEST_RELAY_BINARY="$dir/pgtrickle-relay" \
      "$root/build/tests/relay_integration_tests" --gtest_brief=1 --gtest_filter="$address_filter" || rc=1
  fi
  if compgen -G "$reports/report*" >/dev/null; then
    rc=1
    for f in "$reports"/report*; do
      echo "sanitize ($kind): report $f:"
      head -n 60 "$f"
    done
  fi
  [ "$rc" = 0 ] && echo "sanitize ($kind): clean" || echo "sanitize ($kind): FAILED" >&2
  return "$rc"
}

case "$cmd" in
  build) for k in "${kinds[@]}"; do build "$k"; done ;;
  run)
    failed=0
    for k in "${kinds[@]}"; do run "$k" || failed=1; done
    exit "$failed"
    ;;
  *) echo "usage: scripts/sanitize.sh build|run [address|thread]" >&2; exit 2 ;;
esac
