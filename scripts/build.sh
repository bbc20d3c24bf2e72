#!/usr/bin/env bash
# Configure and build pgtrickle-relay into ./build (Release).
#   scripts/build.sh          everything: the relay, the tests and the benchmarks (scripts/test.sh)
#   scripts/build.sh relay    only the binary and its man page (scripts/demo.sh, scripts/package.sh,
#                             the Dockerfile): no test or benchmark library is needed or built
# Both build into ./build with the same flags, so the full build reuses what the lean one compiled.
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
configure=(-S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DCMAKE_INSTALL_PREFIX=/usr
           -DRELAY_GIT_REVISION="${RELAY_GIT_REVISION:-}"
           -DCMAKE_C_COMPILER_LAUNCHER:STRING="$launcher" -DCMAKE_CXX_COMPILER_LAUNCHER:STRING="$launcher")
case "$what" in
  all)
    cmake "${configure[@]}" -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_BENCH=ON >/dev/null
    cmake --build "$build" --parallel "$(nproc)"
    ;;
  relay)
    # A build directory configured by a full build keeps its tests: only the targets below are built.
    if [ ! -f "$build/CMakeCache.txt" ]; then
      cmake "${configure[@]}" -DRELAY_BUILD_TESTS=OFF -DRELAY_BUILD_BENCH=OFF >/dev/null
    fi
    cmake --build "$build" --parallel "$(nproc)" --target pgtrickle-relay relay_man_page
    ;;
  *) echo "usage: scripts/build.sh [all|relay]" >&2; exit 2 ;;
esac
