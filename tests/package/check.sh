#!/usr/bin/env bash
# The Debian package on this machine, as an operator gets it: built by scripts/package.sh, checked by
# lintian, installed with dpkg -i, its files, man page and units checked, the installed binary relaying
# the demo's rows from the installed SQL into a fresh database of $PGTRICKLE_TEST_POSTGRES_URL (SIGHUP
# reloads, SIGTERM drains and exits 0), then purged: nothing of it may be left but its system user.
# The binary carries librdkafka 2.8.0 (scripts/librdkafka.sh) and loads no shared librdkafka.
# Needs root (dpkg); exits 77 (skipped) otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "package check: needs root (dpkg -i); skipped"; exit 77; }
url=${PGTRICKLE_TEST_POSTGRES_URL:?the test PostgreSQL (scripts/test.sh starts it)}
work=$(mktemp -d /tmp/pgtrickle-relay-package-check.XXXXXX)
chmod 755 "$work"
db="pkgcheck_$$"
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill -KILL "$relay_pid" 2>/dev/null || true
  dpkg-query -W pgtrickle-relay >/dev/null 2>&1 && dpkg --purge pgtrickle-relay >/dev/null 2>&1 || true
  psql -X -q "$url" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
. "$root/tests/support/demo-pipeline.sh"
. "$root/tests/support/package-files.sh"

step "Building the package"
deb=$("$root/scripts/package.sh" --no-build "$work" 2>"$work/build.log") || { cat "$work/build.log"; fail "scripts/package.sh"; }
version=$(dpkg-deb -f "$deb" Version)
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes; Depends: $(dpkg-deb -f "$deb" Depends)"
# The version names this machine's release (0.1.0-1~deb12 on bookworm), and so does the file.
deb_release=$(. /etc/os-release && echo "${VERSION_ID%%.*}")
[[ "$version" =~ ^[0-9.]+-[0-9]+~deb${deb_release}$ ]] || fail "the version $version does not name Debian $deb_release"
[ "$(basename "$deb")" = "pgtrickle-relay_${version}_$(dpkg --print-architecture).deb" ] || fail "the file is named $(basename "$deb")"
version=${version%%-*}  # the relay's own, which --version prints

check_package_files "$root/build"

step "Installing with dpkg -i"
if dpkg-query -W -f='${Status}' pgtrickle-relay 2>/dev/null | grep -q installed; then fail "pgtrickle-relay is already installed here"; fi
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
dpkg -L pgtrickle-relay >"$work/files"
for f in /usr/bin/pgtrickle-relay /usr/share/pgtrickle-relay/pgtrickle_relay.sql /usr/share/man/man1/pgtrickle-relay.1.gz \
         /usr/share/doc/pgtrickle-relay/copyright /usr/share/doc/pgtrickle-relay/changelog.Debian.gz \
         /usr/share/doc/pgtrickle-relay/README.md /usr/share/doc/pgtrickle-relay/docs/config-reference.md \
         /etc/pgtrickle-relay/pgtrickle-relay.toml /etc/pgtrickle-relay/pgtrickle-relay.env \
         /lib/systemd/system/pgtrickle-relay.service /lib/systemd/system/pgtrickle-relay@.service; do
  [ -f "$f" ] && grep -qx "$f" "$work/files" || fail "$f is not installed by the package"
done
[ "$(dpkg-query -W -f='${Conffiles}' pgtrickle-relay | awk 'NF {print $1}' | sort | tr '\n' ' ')" = \
  "/etc/pgtrickle-relay/pgtrickle-relay.env /etc/pgtrickle-relay/pgtrickle-relay.toml " ] || fail "the conffiles"
[ "$(stat -c %a /etc/pgtrickle-relay/pgtrickle-relay.env)" = 600 ] || fail "the environment file is not mode 0600"
file /usr/bin/pgtrickle-relay | grep -q ', stripped' || fail "the binary is not stripped"
getent passwd pgtrickle-relay | grep -q ':/var/lib/pgtrickle-relay:/usr/sbin/nologin$' || fail "no system user pgtrickle-relay"

step "pgtrickle-relay --version"
/usr/bin/pgtrickle-relay --version | tee "$work/version"
head -n 1 "$work/version" | grep -Eq "^pgtrickle-relay $version \(git [0-9a-f]{12}(-modified)?\)$" || fail "--version does not say $version and a revision"
grep -q '^sinks: .*stdout' "$work/version" || fail "--version lists no backends"
grep -q '^License: Apache-2.0' "$work/version" || fail "--version names no licence"
# librdkafka is linked in, scripts/librdkafka.sh's version (SCRAM logins to Kafka 4 need 2.6.1 or later).
rdkafka=$(sed -n 's/^version=//p' "$root/scripts/librdkafka.sh")
grep -Eq "^libraries: .*librdkafka ${rdkafka//./\\.}(,|$)" "$work/version" || fail "--version does not name librdkafka $rdkafka"
ldd /usr/bin/pgtrickle-relay >"$work/ldd"
if grep -q librdkafka "$work/ldd"; then cat "$work/ldd"; fail "the binary loads a shared librdkafka"; fi
if dpkg-deb -f "$deb" Depends | grep -q librdkafka; then fail "the package depends on a librdkafka package"; fi
echo "librdkafka $rdkafka linked in: no librdkafka.so loaded, none depended on"

step "man pgtrickle-relay"
[ "$(man -w pgtrickle-relay)" = /usr/share/man/man1/pgtrickle-relay.1.gz ] || fail "man does not find the page"
MANWIDTH=80 MANPAGER=cat man pgtrickle-relay 2>"$work/man.err" >"$work/man.txt"
[ ! -s "$work/man.err" ] || { cat "$work/man.err"; fail "man warns"; }
for section in SYNOPSIS COMMANDS OPTIONS ENVIRONMENT SIGNALS CONFIGURATION FILES COPYRIGHT; do
  grep -q "^$section" "$work/man.txt" || fail "the man page has no $section section"
done
grep -q 'PGTRICKLE_RELAY_POSTGRES_URL' "$work/man.txt" && grep -q 'stream_table' "$work/man.txt" || fail "the man page lacks the options or the config keys"

step "systemd-analyze verify"
mkdir -p "$work/units"
cp /lib/systemd/system/pgtrickle-relay.service "$work/units/"
cp /lib/systemd/system/pgtrickle-relay@.service "$work/units/"
ln -s pgtrickle-relay@.service "$work/units/pgtrickle-relay@orders.service"
(cd "$work/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
   pgtrickle-relay.service pgtrickle-relay@orders.service) >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
if grep -v -e 'Failed to connect to bus' -e 'No such file or directory' "$work/verify.log" | grep -q .; then cat "$work/verify.log"; fail "systemd-analyze verify warns"; fi

step "The installed binary relays the demo's rows from the installed SQL (as the service's user)"
demo_database "$url" "$db"
demo_sql -f /usr/share/pgtrickle-relay/pgtrickle_relay.sql >/dev/null
demo_pipeline
cp /etc/pgtrickle-relay/pgtrickle-relay.toml "$work/relay.toml"
sed -i 's|^metrics_addr = .*|metrics_addr = "127.0.0.1:0"|' "$work/relay.toml"
# setpriv execs the relay (so $! is the relay's pid, which the signals below reach), as the unit runs it.
PGTRICKLE_RELAY_POSTGRES_URL="$demo_url" setpriv --reuid=pgtrickle-relay --regid=pgtrickle-relay --init-groups --no-new-privs \
  /usr/bin/pgtrickle-relay --config "$work/relay.toml" run >"$work/messages.jsonl" 2>"$work/relay.log" &
relay_pid=$!
demo_relay_started "$relay_pid" "$work/messages.jsonl" "$work/relay.log"
demo_rows
demo_messages_relayed
echo "4 messages relayed: insert, insert, update, delete"
# The Dockerfile's HEALTHCHECK command, as the container runs it, against this relay.
port=$(sed -n 's/.*Serving \/metrics and \/health\..*port=\([0-9]*\).*/\1/p' "$work/relay.log" | head -n 1)
healthcheck=$(sed -n '/^HEALTHCHECK/,/[^\\]$/p' "$root/Dockerfile" | tr -d '\\\n' | sed 's/.* CMD //')
[ -n "$port" ] && [ -n "$healthcheck" ] || fail "no metrics port in the log or no HEALTHCHECK in the Dockerfile"
PGTRICKLE_RELAY_METRICS_ADDR="127.0.0.1:$port" sh -c "$healthcheck" || fail "the Dockerfile's health check fails: $healthcheck"
echo "the Dockerfile's health check passes: $healthcheck"
kill -HUP "$relay_pid"
demo_wait_for 10 grep -q "Reloading the config file" "$work/relay.log"
started=$SECONDS
kill -TERM "$relay_pid"
rc=0; wait "$relay_pid" || rc=$?
relay_pid=""
[ "$rc" = 0 ] || { cat "$work/relay.log"; fail "the relay exited $rc on SIGTERM"; }
echo "SIGHUP reloaded; SIGTERM stopped the relay in $((SECONDS - started)) s with status 0"

step "dpkg --purge"
dpkg --purge pgtrickle-relay >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
left=""
while read -r f; do
  case "$f" in /. | /etc | /lib | /lib/systemd | /lib/systemd/system | /usr | /usr/bin | /usr/share | /usr/share/doc | \
               /usr/share/man | /usr/share/man/man1 | /usr/share/lintian | /usr/share/lintian/overrides) continue ;; esac
  [ -e "$f" ] && left+=" $f"
done <"$work/files"
[ -e /var/lib/pgtrickle-relay ] && left+=" /var/lib/pgtrickle-relay"
[ -z "$left" ] || fail "left after purge:$left"
echo "purged: no file left (the system user pgtrickle-relay stays, as Debian does for system users)"
