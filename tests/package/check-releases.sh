#!/usr/bin/env bash
# The package of each Debian release (bookworm and trixie, amd64), as a user of that release gets it:
# this machine's release's from the test build (scripts/package.sh --no-build), the other's built in
# a root of its release (scripts/package.sh --release, g++ 14 on trixie); the names and versions tell
# them apart (…-1~deb12 and …-1~deb13). Each is installed with apt-get install ./FILE in a clean root
# of its release (scripts/debian-root.sh, a throwaway layer over a minbase debootstrap kept in
# /var/cache/pgtrickle-relay/roots), where tests/package/in-root.sh runs --version (librdkafka 2.8.0:
# linked in on bookworm, Debian's own on trixie) and the demo against the release's PostgreSQL (15,
# 17). The other release's arm64 package too, installed there as multiarch (the arm64 libraries
# of the release beside its amd64 system) with the relay under qemu-user; this release's arm64 one
# is tests/package/check-arm64.sh's. And the relay and its unit tests built in the other release's
# root with its compiler and libraries, the unit tests run there. Needs root and debootstrap; exits 77 (skipped) without them or when the Debian archive cannot
# be reached. The roots are made once (about 1 min each, 2 min for trixie's build root); the trixie
# build goes through a compiler cache kept in its root, so that a fresh clone recompiles little.
set -euo pipefail
# amd64: both releases' amd64 packages (and the other release's unit tests); arm64: the other
# release's arm64 package; all (the default): both. Two ctest entries run the parts side by side.
part=${1:-all}
case "$part" in all | amd64 | arm64) ;; *) echo "usage: check-releases.sh [all|amd64|arm64]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "release package check: needs root (debootstrap, chroot); skipped"; exit 77; }
command -v debootstrap >/dev/null || { echo "release package check: no debootstrap (scripts/install-deps.sh); skipped"; exit 77; }
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "release package check: amd64 only; skipped"; exit 77; }
work=$(mktemp -d /tmp/pgtrickle-relay-releases.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
this=$(. /etc/os-release && echo "$VERSION_CODENAME")
case "$this" in
  bookworm) other=trixie ;;
  trixie) other=bookworm ;;
  *) echo "release package check: this machine runs $this, not bookworm or trixie; skipped"; exit 77 ;;
esac
rdkafka=$(sed -n 's/^version=//p' "$root/scripts/librdkafka.sh")
started=$SECONDS

# Makes a root, or skips the check when the archive cannot be reached.
root_of() {
  local rc=0 dir
  dir=$("$root/scripts/debian-root.sh" make "$@" 2>"$work/root.log") || rc=$?
  if [ "$rc" = 75 ]; then cat "$work/root.log" >&2; echo "release package check: no Debian archive; skipped" >&2; exit 77; fi
  [ "$rc" = 0 ] || { cat "$work/root.log" >&2; fail "scripts/debian-root.sh make $*"; }
  echo "$dir"
}

step "The roots: $this and $other, and $other's build root"
t0=$SECONDS
# Each install fetches the package's dependencies from the archive, made roots or not.
for release in "$this" "$other"; do
  rc=0
  "$root/scripts/debian-root.sh" archive "$release" >/dev/null 2>"$work/root.log" || rc=$?
  if [ "$rc" = 75 ]; then cat "$work/root.log"; echo "release package check: no Debian archive; skipped"; exit 77; fi
  [ "$rc" = 0 ] || { cat "$work/root.log"; fail "scripts/debian-root.sh archive $release"; }
done
for release in "$this" "$other"; do root_of "$release" >/dev/null; done
root_of "$other" build >/dev/null
echo "ready in $((SECONDS - t0)) s"

. "$root/tests/support/clean-root.sh"
if [ "$part" != arm64 ]; then
  # The relay and its unit tests built with the other release's compiler (g++ 14 on trixie) and
  # libraries, the unit tests passing there (the integration tests and benchmarks are built on this
  # machine's release only: compiled twice, they cost a cold run minutes of both cores). Into the
  # directory its package is built from (scripts/package.sh --release), which then compiles nothing again.
  step "The relay and its unit tests built in $other's root; its unit tests run there"
  t0=$SECONDS
  "$root/scripts/debian-root.sh" run "$(root_of "$other" build)" --bind "$root:/src" -- \
    env RELAY_BUILD_DIR="/src/build-$other" CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache \
    CCACHE_DIR=/var/cache/pgtrickle-relay/ccache CCACHE_BASEDIR=/src \
    sh -c "cd /src && g++ --version | head -n 1 && scripts/build.sh unit >/tmp/build.log 2>&1 || { tail -n 40 /tmp/build.log; exit 1; }
           build-$other/tests/relay_unit_tests --gtest_brief=1" >"$work/unit.log" 2>&1 ||
    { tail -n 60 "$work/unit.log"; fail "building or unit-testing on $other"; }
  head -n 1 "$work/unit.log"
  grep -E '^\[  (PASSED|SKIPPED|FAILED) ' "$work/unit.log"
  echo "($((SECONDS - t0)) s)"

  step "The packages: $this's (the test build) and $other's (built in its root)"
  mkdir -p "$work/$this" "$work/$other"
  deb_this=$("$root/scripts/package.sh" --no-build "$work/$this" 2>"$work/package.log") || { cat "$work/package.log"; fail "scripts/package.sh"; }
  t0=$SECONDS
  deb_other=$("$root/scripts/package.sh" --release "$other" "$work/$other" 2>"$work/package.log") ||
    { tail -n 40 "$work/package.log"; fail "scripts/package.sh --release $other"; }
  echo "$other's built in $((SECONDS - t0)) s"
  for deb in "$deb_this" "$deb_other"; do
    echo "$(basename "$deb"): Version $(dpkg-deb -f "$deb" Version); Depends: $(dpkg-deb -f "$deb" Depends)"
  done
  [ "$(basename "$deb_this")" != "$(basename "$deb_other")" ] || fail "the two releases' packages have one name"
  dpkg --compare-versions "$(dpkg-deb -f "$deb_this" Version)" ne "$(dpkg-deb -f "$deb_other" Version)" || fail "one version for both releases"
  # An upgrade of the system from bookworm to trixie takes trixie's package.
  bookworm_deb=$deb_this trixie_deb=$deb_other
  [ "$this" = bookworm ] || { bookworm_deb=$deb_other; trixie_deb=$deb_this; }
  dpkg --compare-versions "$(dpkg-deb -f "$trixie_deb" Version)" gt "$(dpkg-deb -f "$bookworm_deb" Version)" ||
    fail "trixie's package is not newer than bookworm's"
  dpkg-deb -f "$bookworm_deb" Depends | grep -q librdkafka && fail "bookworm's package depends on a librdkafka package (it links 2.8.0 in)"
  dpkg-deb -f "$trixie_deb" Depends | grep -Eq 'librdkafka1 \(>= 2\.[6-9]' || fail "trixie's package does not depend on Debian 13's librdkafka1"

  in_clean_root "$this" "$deb_this"
  in_clean_root "$other" "$deb_other"
fi

if [ "$part" != amd64 ]; then
  # The other release's arm64 package (this release's is tests/package/check-arm64.sh's), cross-built
  # in its root, installed as multiarch in the clean root and run under qemu-user.
  step "$other's arm64 package"
  t0=$SECONDS
  mkdir -p "$work/$other-arm64"
  deb_arm64=$("$root/scripts/package.sh" --release "$other" --arch arm64 "$work/$other-arm64" 2>"$work/package.log") ||
    { tail -n 40 "$work/package.log"; fail "scripts/package.sh --release $other --arch arm64"; }
  echo "$(basename "$deb_arm64") built in $((SECONDS - t0)) s; Depends: $(dpkg-deb -f "$deb_arm64" Depends)"
  in_clean_root "$other" "$deb_arm64"
fi
echo "the packages ($part) install and run in a clean system of their release ($((SECONDS - started)) s)"
