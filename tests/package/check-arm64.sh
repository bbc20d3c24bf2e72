#!/usr/bin/env bash
# The arm64 Debian package, cross-built on this machine: built by scripts/package.sh --arch arm64 (the
# relay alone, into build-arm64/), checked by lintian, its dependencies the arm64 libraries' packages,
# then unpacked (not installed) and its binary run under qemu-aarch64-static: --version (naming the
# librdkafka linked in, scripts/librdkafka.sh's), the SQL
# installed into a fresh database of $PGTRICKLE_TEST_POSTGRES_URL, the demo's pipeline relaying every
# row to stdout, SIGTERM exiting 0. Needs what scripts/install-deps.sh arm64 installs; exits 77
# (skipped) without it. Then the package installed with apt in a clean root of this release (as
# multiarch), the demo run there (tests/support/clean-root.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
for tool in aarch64-linux-gnu-g++ qemu-aarch64-static; do
  command -v "$tool" >/dev/null || { echo "arm64 package check: no $tool (scripts/install-deps.sh arm64); skipped"; exit 77; }
done
url=${PGTRICKLE_TEST_POSTGRES_URL:?the test PostgreSQL (scripts/test.sh starts it)}
work=$(mktemp -d /tmp/pgtrickle-relay-package-arm64.XXXXXX)
chmod 755 "$work"
db="pkgarm64_$$"
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill -KILL "$relay_pid" 2>/dev/null || true
  psql -X -q "$url" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
. "$root/tests/support/demo-pipeline.sh"
. "$root/tests/support/package-files.sh"
# The :arm64 C library and libraries of the multiarch directories (scripts/package.sh runs it so).
arm64() { qemu-aarch64-static "$@"; }

step "Building the arm64 package (cross-compiled; incremental after the first build)"
started=$SECONDS
deb=$("$root/scripts/package.sh" --arch arm64 "$work" 2>"$work/build.log") || { cat "$work/build.log"; fail "scripts/package.sh --arch arm64"; }
version=$(dpkg-deb -f "$deb" Version)
deb_release=$(. /etc/os-release && echo "${VERSION_ID%%.*}")
[[ "$version" =~ ^[0-9.]+-[0-9]+~deb${deb_release}$ ]] || fail "the version $version does not name Debian $deb_release"
version=${version%%-*}  # the relay's own, which --version prints
echo "built in $((SECONDS - started)) s"
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes, installed $(dpkg-deb -f "$deb" Installed-Size) KiB"
echo "Depends: $(dpkg-deb -f "$deb" Depends)"
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || fail "the package's Architecture is not arm64"

check_package_files "$root/build-arm64"

step "The binary is arm64's, stripped, and depends on the arm64 libraries' packages"
dpkg-deb -x "$deb" "$work/root"
relay="$work/root/usr/bin/pgtrickle-relay"
file "$relay" | tee "$work/file"
grep -q 'ARM aarch64' "$work/file" && grep -q ', stripped' "$work/file" || fail "not a stripped arm64 binary"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in $(aarch64-linux-gnu-readelf -d "$relay" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  owner=$(dpkg -S "/usr/lib/aarch64-linux-gnu/$lib" 2>/dev/null || dpkg -S "/lib/aarch64-linux-gnu/$lib" 2>/dev/null) ||
    fail "no installed arm64 package holds $lib"
  owner=${owner%%:*}
  named=""
  for name in "$owner" $(dpkg-query -W -f='${Provides}' "$owner:arm64" | tr ',' '\n' | awk '{print $1}'); do
    [[ ", $depends," == *", $name "* || ", $depends," == *", $name,"* ]] && named=1
  done
  [ -n "$named" ] || fail "$lib is in $owner:arm64, which Depends does not name"
done
echo "every library the binary needs is in a package Depends names, installed here as :arm64"

step "pgtrickle-relay --version (under qemu)"
arm64 "$relay" --version | tee "$work/version"
head -n 1 "$work/version" | grep -Eq "^pgtrickle-relay $version \(git [0-9a-f]{12}(-modified)?\)$" || fail "--version does not say $version and a revision"
grep -q '^sinks: .*stdout' "$work/version" || fail "--version lists no backends"
rdkafka=$(sed -n 's/^version=//p' "$root/scripts/librdkafka.sh")
grep -Eq "^libraries: .*librdkafka ${rdkafka//./\\.}(,|$)" "$work/version" || fail "--version does not name librdkafka $rdkafka"
if aarch64-linux-gnu-readelf -d "$relay" | grep -q 'NEEDED.*librdkafka'; then fail "the binary needs a shared librdkafka"; fi
echo "librdkafka $rdkafka linked in, as in the amd64 package"

step "The arm64 binary installs the SQL and relays the demo's rows (under qemu)"
demo_database "$url" "$db"
arm64 "$relay" install --postgres-url "$demo_url" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "pgtrickle-relay install"; }
demo_pipeline
# qemu-user runs the relay in its own process: $! is the relay's pid, and the signals reach it.
qemu-aarch64-static "$relay" --postgres-url "$demo_url" --metrics-addr 127.0.0.1:0 >"$work/messages.jsonl" 2>"$work/relay.log" &
relay_pid=$!
demo_relay_started "$relay_pid" "$work/messages.jsonl" "$work/relay.log"
# The demo's rows, then more in several transactions: every one is relayed, in commit order.
demo_rows
demo_more_rows 5
demo_messages_relayed 5
started=$SECONDS
kill -TERM "$relay_pid"
rc=0; wait "$relay_pid" || rc=$?
relay_pid=""
[ "$rc" = 0 ] || { cat "$work/relay.log"; fail "the relay exited $rc on SIGTERM"; }
echo "$demo_expected messages relayed (the demo's insert, insert, update, delete and 500 inserts); SIGTERM stopped the relay in $((SECONDS - started)) s with status 0"

# As a user of this release installs it: apt-get install in a clean root of the release, its arm64
# dependencies from the archive (multiarch, beside the root's amd64 system), the demo against the
# release's PostgreSQL there. Needs root and debootstrap, as tests/package/check-releases.sh.
this=$(. /etc/os-release && echo "$VERSION_CODENAME")
if [ "$(id -u)" != 0 ] || ! command -v debootstrap >/dev/null; then
  echo "the install in a clean $this root: skipped (needs root and debootstrap)"
else
  . "$root/tests/support/clean-root.sh"
  rc=0
  in_clean_root "$this" "$deb" || rc=$?
  [ "$rc" != 75 ] || echo "the install in a clean $this root: skipped (the Debian archive cannot be reached)"
fi
