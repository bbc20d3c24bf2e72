#!/usr/bin/env bash
# Builds the Debian package pgtrickle-relay_<version>-1~deb<N>_<arch>.deb into ./build (or into the
# directory given), for Debian <N>: the files `cmake --install` lays out (cmake/Install.cmake) with the
# binary stripped, plus the control files of deploy/debian/. The version is CMake's, with the package's
# revision (1, or $RELAY_PACKAGE_REVISION) and the release it is built for, so that a user and apt tell
# the packages of two releases apart, and an upgrade of the system from one to the next takes the
# next one's; the dependencies come from dpkg-shlibdeps.
#   scripts/package.sh [--release trixie] [--arch arm64] [--no-build] [output-dir]   prints the package's path
# --no-build packages build/ as it is (the test run, whose binaries must not change under it).
# --arch arm64 cross-builds the relay into build-arm64/ (cmake/toolchain-aarch64.cmake, with what
# scripts/install-deps.sh arm64 installs) and runs it under qemu-aarch64-static where it must run.
# --release builds for another Debian release than this machine's (bookworm or trixie) in a root of
# that release (scripts/debian-root.sh make RELEASE build), with this tree at /src, into
# build-RELEASE/ (build-RELEASE-arm64/), through a compiler cache kept in the root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage() { echo "usage: scripts/package.sh [--release bookworm|trixie] [--arch arm64] [--no-build] [output-dir]" >&2; exit 2; }
build_first=1
arch=$(dpkg --print-architecture)
release=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build_first=""; args+=("$1"); shift ;;
    --arch) arch=${2:?--arch needs an architecture}; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --release) release=${2:?--release needs a release}; shift 2 ;;
    --release=*) release=${1#--release=}; shift ;;
    -*) usage ;;
    *) break ;;
  esac
done
out=$(realpath -m "${1:-$root/build}")
. /etc/os-release  # this machine's release: VERSION_CODENAME, VERSION_ID

# Another release: this script again, in that release's build root.
if [ -n "$release" ] && [ "$release" != "$VERSION_CODENAME" ]; then
  [ "$(id -u)" = 0 ] || { echo "package.sh: --release $release needs root (a chroot)" >&2; exit 1; }
  broot=$("$root/scripts/debian-root.sh" make "$release" build)
  suffix=$release
  [ "$arch" = "$(dpkg --print-architecture)" ] || suffix+=-$arch
  binds=(--bind "$root:/src" --bind "$out:/out")
  # git in the root reads the revision as here: a worktree's repository lies outside the tree.
  common=$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  case "$common" in "" | "$root"/*) ;; *) binds+=(--bind "$common:$common") ;; esac
  mkdir -p "$out"
  deb=$("$root/scripts/debian-root.sh" run "$broot" "${binds[@]}" -- env RELAY_BUILD_DIR="/src/build-$suffix" \
          CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_DIR=/var/cache/pgtrickle-relay/ccache \
          CCACHE_BASEDIR=/src /src/scripts/package.sh --arch "$arch" "${args[@]}" /out)
  echo "$out/${deb#/out/}"
  exit 0
fi

# The cross build goes through the compiler cache when there is one (ccache, from
# scripts/install-deps.sh arm64).
. "$root/scripts/compiler-cache.sh"
run=()  # how this machine runs the package's binary
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
  build=${RELAY_BUILD_DIR:-$root/build}
elif [ "$arch" = arm64 ]; then
  build=${RELAY_BUILD_DIR:-$root/build-arm64}
  run=(qemu-aarch64-static)  # with the :arm64 C library and libraries of the multiarch directories
  command -v qemu-aarch64-static >/dev/null || { echo "package.sh: no qemu-aarch64-static (scripts/install-deps.sh arm64)" >&2; exit 1; }
else
  echo "package.sh: cannot build for $arch here (arm64 or $(dpkg --print-architecture))" >&2
  exit 2
fi
if [ -n "$build_first" ] && [ -z "${run[*]}" ]; then
  "$root/scripts/build.sh" relay >&2
  # The package's paths are fixed when the build is configured: /usr, /etc, /lib/systemd/system.
  if ! grep -qx 'CMAKE_INSTALL_PREFIX:PATH=/usr' "$build/CMakeCache.txt"; then
    cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
    cmake --build "$build" --target pgtrickle-relay relay_man_page >&2
  fi
elif [ -n "$build_first" ]; then
  # The relay alone, with the flags of scripts/build.sh, through the compiler cache when there is one.
  use_compiler_cache "$root"
  if ! grep -qx "CMAKE_CXX_COMPILER_LAUNCHER:STRING=$launcher" "$build/CMakeCache.txt" 2>/dev/null; then
    cmake -S "$root" -B "$build" -G Ninja --toolchain "$root/cmake/toolchain-aarch64.cmake" -DCMAKE_BUILD_TYPE=Release \
          -DCMAKE_INSTALL_PREFIX=/usr -DRELAY_GIT_REVISION="${RELAY_GIT_REVISION:-}" \
          -DCMAKE_C_COMPILER_LAUNCHER:STRING="$launcher" -DCMAKE_CXX_COMPILER_LAUNCHER:STRING="$launcher" \
          -DRELAY_BUILD_TESTS=OFF -DRELAY_BUILD_BENCH=OFF >/dev/null
  fi
  cmake --build "$build" --parallel "$(nproc)" --target pgtrickle-relay >&2
  # The man page is printed by the binary (cmake/Install.cmake), here under qemu: the relay_man_page
  # target would run the arm64 binary itself.
  if [ "$build/pgtrickle-relay" -nt "$build/pgtrickle-relay.1.gz" ]; then
    "${run[@]}" "$build/pgtrickle-relay" man >"$build/pgtrickle-relay.1"
    gzip -9n <"$build/pgtrickle-relay.1" >"$build/pgtrickle-relay.1.gz"
  fi
elif ! grep -qx 'CMAKE_INSTALL_PREFIX:PATH=/usr' "$build/CMakeCache.txt" 2>/dev/null; then
  echo "package.sh: $build is not configured for /usr (scripts/build.sh configures it so)" >&2
  exit 1
fi

upstream=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$upstream" ] || { echo "package.sh: no project version in $build/CMakeCache.txt" >&2; exit 1; }
# This machine's release names the package: 0.1.0-1~deb12 for bookworm, 0.1.0-1~deb13 for trixie.
version=$upstream-${RELAY_PACKAGE_REVISION:-1}~deb${VERSION_ID%%.*}
maintainer="pgtrickle-relay maintainers <maintainers@users.noreply.b-seed-9059270d.example>"

stage=$(mktemp -d /tmp/pgtrickle-relay-package.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pgtrickle-relay"
DESTDIR="$pkg" cmake --install "$build" --prefix /usr --strip >/dev/null

# The package's changelog (Debian policy 12.7): this version for this release, from the revision it
# was built from.
revision=$("${run[@]}" "$pkg/usr/bin/pgtrickle-relay" --version | sed -n '1s/.*(git \(.*\))$/\1/p')
date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'pgtrickle-relay (%s) %s; urgency=medium\n\n  * pgtrickle-relay %s, built from git revision %s.\n\n -- %s  %s\n' \
  "$version" "$VERSION_CODENAME" "$upstream" "$revision" "$maintainer" "$date" |
  gzip -9n >"$pkg/usr/share/doc/pgtrickle-relay/changelog.Debian.gz"

# The shared libraries the binary links, as package dependencies (dpkg-shlibdeps reads debian/control;
# for arm64 it names the :arm64 libraries' packages).
mkdir -p "$stage/debian"
printf 'Source: pgtrickle-relay\n\nPackage: pgtrickle-relay\nArchitecture: any\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && DEB_HOST_ARCH=$arch dpkg-shlibdeps -O -e"pgtrickle-relay/usr/bin/pgtrickle-relay" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no dependency" >&2; exit 1; }
# A shared librdkafka (Debian 13's) must be one whose SCRAM logins Kafka 4 accepts: 2.6.1 or later
# (docs/operations.md#librdkafka), more than its symbols ask.
shlibs=$(echo "$shlibs" | sed 's/librdkafka1 ([^)]*)/librdkafka1 (>= 2.6.1)/')

mkdir -p "$pkg/DEBIAN"
for script in postinst prerm postrm; do install -m 755 "$root/deploy/debian/$script" "$pkg/DEBIAN/$script"; done
(cd "$pkg" && find etc -type f | sort | sed 's|^|/|') >"$pkg/DEBIAN/conffiles"
(cd "$pkg" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@INSTALLED_SIZE@|$size|" -e "s|@SHLIBS_DEPENDS@|$shlibs|" "$root/deploy/debian/control.in" >"$pkg/DEBIAN/control"
chmod 644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/pgtrickle-relay_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
