#!/usr/bin/env bash
# Run by tests/package/check-releases.sh inside a clean Debian root (scripts/debian-root.sh run
# --overlay: its changes are thrown away), with the tree at /src and the check's directory at /work:
# the package installed as a user of that release installs it (apt-get install ./FILE, its
# dependencies from the release's archive), `pgtrickle-relay --version`, then the demo against the
# release's own PostgreSQL: the SQL installed by the relay, the orders table's outbox relayed to
# stdout, the demo's rows in commit order, SIGTERM exiting 0.
# A package of another architecture (arm64 in an amd64 root) is installed as multiarch Debian
# installs one: its architecture added to dpkg's, its dependencies resolved and installed from the
# release's archive for that architecture; the relay then runs under qemu-user (a static
# qemu-aarch64 the check puts at /work/qemu-aarch64-static), beside the root's own PostgreSQL.
#   in-root.sh DEB RDKAFKA_VERSION
set -euo pipefail
deb=$1 rdkafka=$2
fail() { echo "FAIL ($release ${arch:-}): $*" >&2; exit 1; }
step() { echo "== ($release ${arch:-}) $*"; }
. /etc/os-release
release=$VERSION_CODENAME
postgresql=$(case "$release" in bookworm) echo 15 ;; trixie) echo 17 ;; *) echo "" ;; esac)
[ -n "$postgresql" ] || fail "no PostgreSQL version known for $release"

# Nothing starts a service here, and PostgreSQL's package makes no cluster: the demo makes its own.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
mkdir -p /etc/postgresql-common
echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
arch=$(dpkg-deb -f "$deb" Architecture)
relay=(pgtrickle-relay)
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  case "$arch" in
    arm64) emulator=/work/qemu-aarch64-static ;;
    *) fail "no emulator known for $arch" ;;
  esac
  [ -x "$emulator" ] || fail "the $arch package needs $emulator"
  dpkg --add-architecture "$arch"
  relay=("$emulator" /usr/bin/pgtrickle-relay)
fi
step "apt-get install ./$(basename "$deb") postgresql-$postgresql"
apt-get update -qq >/work/apt.log 2>&1 || { cat /work/apt.log; fail "apt-get update"; }
apt-get install -y -qq --no-install-recommends "$deb" "postgresql-$postgresql" >>/work/apt.log 2>&1 ||
  { tail -n 30 /work/apt.log; fail "apt-get install"; }
dpkg-query -W -f='${Package} ${Version} ${Status}\n' pgtrickle-relay

step "pgtrickle-relay --version"
"${relay[@]}" --version | tee /work/version
version=$(dpkg-query -W -f='${Version}' pgtrickle-relay)
head -n 1 /work/version | grep -Eq "^pgtrickle-relay ${version%%-*} \(git " || fail "--version does not say ${version%%-*}"
grep -Eq "^libraries: .*librdkafka ${rdkafka//./\\.}(,|$)" /work/version || fail "--version does not name librdkafka $rdkafka"

step "The demo against PostgreSQL $postgresql"
# A throwaway server on a socket in /tmp (the root's own): no port is shared with this machine's.
pgdir=/tmp/pg
install -d -o postgres -g postgres "$pgdir"
bindir=/usr/lib/postgresql/$postgresql/bin
runuser -u postgres -- "$bindir/initdb" -D "$pgdir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/work/initdb.log 2>&1 ||
  { cat /work/initdb.log; fail "initdb"; }
runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgresql.log" -w -t 60 start \
  -o "-k $pgdir -c listen_addresses= -c wal_level=logical" >/dev/null || { cat "$pgdir/postgresql.log"; fail "PostgreSQL did not start"; }
relay_pid=""
cleanup() {
  [ -z "$relay_pid" ] || kill -KILL "$relay_pid" 2>/dev/null || true
  runuser -u postgres -- "$bindir/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
. /src/tests/support/demo-pipeline.sh
demo_database "postgresql://postgres@%2Ftmp%2Fpg/postgres" demo
"${relay[@]}" install --postgres-url "$demo_url" >/work/install.log 2>&1 || { cat /work/install.log; fail "pgtrickle-relay install"; }
cat /work/install.log
demo_pipeline
# As the service runs it: its user, no new privileges.
setpriv --reuid=pgtrickle-relay --regid=pgtrickle-relay --init-groups --no-new-privs \
  "${relay[@]}" --postgres-url "$demo_url" --metrics-addr 127.0.0.1:0 >/work/messages.jsonl 2>/work/relay.log &
relay_pid=$!
demo_relay_started "$relay_pid" /work/messages.jsonl /work/relay.log
demo_rows >/dev/null
demo_expected=4
demo_wait_for 60 demo_all_printed
changes=$(sed -n 's/.*"op":"\([a-z]*\)".*"key":"\([0-9]*\)".*/\1 \2/p' /work/messages.jsonl | tr '\n' ',')
[ "$changes" = "insert 1,insert 2,update 1,delete 2," ] || { cat /work/messages.jsonl; fail "the messages are not the demo's changes in commit order: $changes"; }
kill -TERM "$relay_pid"
rc=0; wait "$relay_pid" || rc=$?
relay_pid=""
[ "$rc" = 0 ] || { cat /work/relay.log; fail "the relay exited $rc on SIGTERM"; }
echo "4 messages relayed in commit order (insert, insert, update, delete) from PostgreSQL $postgresql; SIGTERM: status 0"
