#!/usr/bin/env bash
# Configure and build pgtrickle-relay into ./build (Release); the demo's relay apart (demo, below).
#   scripts/build.sh          everything: the relay, the tests and the benchmarks (scripts/test.sh)
#   scripts/build.sh relay    only the binary and its man page (scripts/package.sh, the Dockerfile,
#                             scripts/regen.sh): no test or benchmark library is needed or built
#   scripts/build.sh unit     the binary, its man page and the unit tests (what another Debian
#                             release's root builds and runs: tests/package/check-releases.sh)
#   scripts/build.sh demo     the demo's relay (scripts/demo.sh): the binary alone, without the broker
#                             backends (RELAY_BROKER_BACKENDS=OFF) and unoptimised, which compiles about
#                             a quarter faster, into ./build-demo, so ./build is left as it is; or
#                             ./build's binary when it is newer than every source already. Prints
#                             the binary's path; the build's progress goes to standard error.
# all and relay build into ./build with the same flags, so the full build reuses what the lean one
# compiled.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
build=${RELAY_BUILD_DIR:-$root/build}  # another directory for another build (scripts/package.sh --release)
type=${RELAY_BUILD_TYPE:-Release}
# Installed under /usr with /etc and /lib/systemd/system, as the Debian package (cmake --install build).
# RELAY_GIT_REVISION names the revision of a tree without git (the Dockerfile's build stage).
# Through the compiler cache when there is one (scripts/compiler-cache.sh).
. "$root/scripts/compiler-cache.sh"
use_compiler_cache "$root"
configure() {  # BUILD_DIR [CMake options...]
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DCMAKE_INSTALL_PREFIX=/usr \
    -DRELAY_GIT_REVISION="${RELAY_GIT_REVISION:-}" \
    -DCMAKE_C_COMPILER_LAUNCHER:STRING="$launcher" -DCMAKE_CXX_COMPILER_LAUNCHER:STRING="$launcher" "$@" >/dev/null
}
# Whether DIR holds a relay newer than every file it is built from (a build then relinks it at most).
relay_is_current() {  # DIR
  [ -x "$1/pgtrickle-relay" ] && [ -f "$1/build.ninja" ] || return 1
  [ -z "$(find "$root/CMakeLists.txt" "$root/cmake" "$root/include" "$root/src" "$root/sql" \
            -newer "$1/pgtrickle-relay" -print -quit)" ]
}
case "$what" in
  all)
    configure "$build" -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_BENCH=ON
    cmake --build "$build" --parallel "$(nproc)"
    ;;
  relay)
    # A build directory configured by a full build keeps its tests: only the targets below are built.
    [ -f "$build/CMakeCache.txt" ] || configure "$build" -DRELAY_BUILD_TESTS=OFF -DRELAY_BUILD_BENCH=OFF
    cmake --build "$build" --parallel "$(nproc)" --target pgtrickle-relay relay_man_page
    ;;
  unit)
    configure "$build" -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_BENCH=OFF
    cmake --build "$build" --parallel "$(nproc)" --target pgtrickle-relay relay_man_page relay_unit_tests
    ;;
  demo)
    if ! relay_is_current "$build"; then
      build=$root/build-demo
      # Debug's flags without its debug information: -O0 alone (RELAY_BUILD_TYPE gives another type).
      type=${RELAY_BUILD_TYPE:-Debug}
      [ -f "$build/CMakeCache.txt" ] || configure "$build" -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
        -DRELAY_BUILD_TESTS=OFF -DRELAY_BUILD_BENCH=OFF -DRELAY_BROKER_BACKENDS=OFF
    fi
    cmake --build "$build" --parallel "$(nproc)" --target pgtrickle-relay >&2
    echo "$build/pgtrickle-relay"
    ;;
  *) echo "usage: scripts/build.sh [all|relay|unit|demo]" >&2; exit 2 ;;
esac
