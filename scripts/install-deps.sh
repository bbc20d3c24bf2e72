#!/usr/bin/env bash
# Install what pgtrickle-relay needs on Debian bookworm (as root). Safe to run again: packages
# already present are skipped.
#   scripts/install-deps.sh             everything: build, test, benchmark, fuzz and package (scripts/test.sh)
#   scripts/install-deps.sh demo        only what the demo needs (scripts/demo.sh): the compiler, CMake
#                                       and Ninja, libpq, the libraries the relay's core needs, and
#                                       PostgreSQL; no broker's library, no librdkafka build (the demo's
#                                       relay has no optional backend: scripts/build.sh demo)
#   scripts/install-deps.sh demo-build  the same without PostgreSQL: what that build needs, which
#                                       scripts/demo.sh installs first, then PostgreSQL beside the build
#   scripts/install-deps.sh relay       what building the binary with every backend and running it
#                                       against a local PostgreSQL need
#   scripts/install-deps.sh build       only what building the binary needs (the Dockerfile's build stage)
#   scripts/install-deps.sh tests       what building the binary, the tests and the benchmarks needs
#                                       (scripts/build.sh), without the servers and tools they run with
#   scripts/install-deps.sh arm64       the arm64 cross build (scripts/package.sh --arch arm64): the cross
#                                       compiler, ccache, the :arm64 libraries and qemu-user-static to run the binary
# On Debian 12 each mode but demo and demo-build also builds librdkafka 2.8.0 for its architecture
# once (scripts/librdkafka.sh), as a static library outside the tree: Debian 12's 2.0.2 fails SCRAM
# logins to Kafka 4. On Debian 13 (relay, build, tests and arm64: the build root of
# scripts/debian-root.sh), the system's librdkafka is 2.8.0 and serves as it is.
set -euo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
# Building the relay with every backend; on Debian 12 curl fetches librdkafka's source, whose static
# library needs the OpenSSL, zstd, zlib and Cyrus SASL development packages.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libpq-dev
  nlohmann-json3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libcli11-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev
  libzstd-dev zlib1g-dev libsasl2-dev libnats-dev libhiredis-dev librabbitmq-dev
  libjemalloc-dev
)
static_rdkafka=1
postgresql=15
if [ "$release" = trixie ]; then
  static_rdkafka=""
  postgresql=17
  packages+=(librdkafka-dev)
fi
# The demo's lean relay: the C++ compiler (not the rest of build-essential) and the core's libraries
# only (CMakeLists.txt's required ones), no broker's.
demo_build=(
  g++ cmake ninja-build pkg-config
  libpq-dev
  nlohmann-json3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libcli11-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev
)
apt_options=()
case "$what" in
  demo-build) packages=("${demo_build[@]}"); static_rdkafka="" ;;
  demo) packages=("${demo_build[@]}" postgresql-$postgresql postgresql-client-$postgresql); static_rdkafka="" ;;
  build) ;;
  relay) packages+=(postgresql-$postgresql postgresql-client-$postgresql) ;;  # a local server and psql
  tests) packages+=(libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev) ;;
  all)
    packages+=(
      postgresql-15 postgresql-client-15
      postgresql-15-postgis-3  # PostGIS's types beside Debezium (tests/integration/kafka/debezium_differential_test.cpp)
      libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev
      ccache  # a fresh clone's build reuses the objects of the last one (scripts/compiler-cache.sh)
      nats-server redis-server rabbitmq-server python3
      prometheus  # promtool checks the alert rules in docs/prometheus
      clang libclang-rt-14-dev  # the fuzz targets (libFuzzer and sanitizers), fuzz/run.sh
      lintian man-db systemd curl file  # the package's checks (tests/package/check.sh)
      podman buildah runc catatonit slirp4netns debootstrap python3-yaml  # the image's checks (tests/image/check.sh)
      openjdk-17-jdk-headless maven  # Java programs the tests run beside the relay (scripts/java-tools.sh)
      chromium fonts-dejavu-core  # the console's browser tests (tests/node/console.mjs, playwright-core drives it)
    )
    ;;
  arm64)
    # The libraries' arm64 builds install beside the native ones (Multi-Arch: same). libpq-dev is not
    # Multi-Arch, so only libpq5:arm64 is installed: the headers are the native package's and
    # cmake/toolchain-aarch64.cmake links the arm64 library; likewise libsasl2-dev, for librdkafka's
    # Kerberos (scripts/librdkafka.sh). Header-only libraries are the native ones.
    # ccache keeps the cross build's objects outside the tree (scripts/package.sh), so the build of a
    # fresh clone reuses the last one's.
    packages+=(
      crossbuild-essential-arm64 qemu-user-static ccache
      libpq5:arm64 libtomlplusplus-dev:arm64 libspdlog-dev:arm64 libfmt-dev:arm64
      libmicrohttpd-dev:arm64 libssl-dev:arm64 libcurl4-openssl-dev:arm64
      libzstd-dev:arm64 zlib1g-dev:arm64 libsasl2-2:arm64 libnats-dev:arm64 libhiredis-dev:arm64 librabbitmq-dev:arm64
    )
    # Debian 13's librdkafka-dev needs libsasl2-dev, which is not Multi-Arch: its library alone, as libpq's.
    [ -n "$static_rdkafka" ] || packages+=(librdkafka1:arm64)
    # Never let a package of the other architecture replace a native one (a native build needs them).
    apt_options+=(--no-remove)
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
      if [ "$(id -u)" != 0 ]; then echo "install-deps.sh: run as root to add the arm64 architecture" >&2; exit 1; fi
      dpkg --add-architecture arm64
    fi
    ;;
  *) echo "usage: scripts/install-deps.sh [all|demo|demo-build|relay|build|tests|arm64]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "install-deps.sh: run as root to install packages" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_options[@]}" "${missing[@]}" >/dev/null
fi
# librdkafka 2.8.0 for this build's architecture, unless already built (it prints where it is).
if [ -n "$static_rdkafka" ]; then
  if [ "$what" = arm64 ]; then "$root/scripts/librdkafka.sh" arm64 >/dev/null; else "$root/scripts/librdkafka.sh" >/dev/null; fi
fi
[ "$what" = all ] || exit 0
# Node.js (for the independent broker clients used by tests) comes with the machine image or from
# Debian; install Debian's only when no node is present, so an existing one is left alone.
if ! command -v node >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# The independent broker clients and the SQS emulator the tests use (versions pinned by the lock file).
# npm writes node_modules/.package-lock.json last: an install cut short has none, and is done again.
installed="$root/tests/node/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ "$root/tests/node/package-lock.json" -nt "$installed" ]; then
  (cd "$root/tests/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
