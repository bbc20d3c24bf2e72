#!/usr/bin/env bash
# Debian systems made with debootstrap and kept outside the tree (/var/cache/pgtrickle-relay/roots/),
# to build the relay for another Debian release than this machine's and to install each package in a
# clean system of its release (tests/package/check-releases.sh). Needs root and debootstrap.
#   scripts/debian-root.sh make RELEASE [build|server]  makes the root unless made; prints its path
#   scripts/debian-root.sh path RELEASE [build|server]  prints its path (made or not)
#   scripts/debian-root.sh archive RELEASE         prints the mirror if it serves RELEASE (exit 75 if not)
#   scripts/debian-root.sh run ROOT [--bind DIR:INNER]... [--overlay] [--] COMMAND...
#                                                  runs COMMAND in ROOT as root
# RELEASE is bookworm, trixie or forky (Debian's testing, for its PostgreSQL 18). A root is a minbase system with the release, its updates and its
# security archive as apt's sources, made from the Debian mirror apt uses here; with "build", that
# plus what building the relay, its tests and its packages needs there (scripts/install-deps.sh tests
# and arm64, run inside it; a copy of the plain root, which stays clean). A root is made once and
# kept; when install-deps.sh has changed since, `make` runs it again in the build root, after
# bringing its packages up to the release's current ones. With "server", the plain root plus the
# release's PostgreSQL server (15 on bookworm, 17 on trixie, 18 on forky) and nothing else: what
# scripts/pg-server.sh runs a release's PostgreSQL with (PGTRICKLE_PG_RELEASE). Its packages
# installed, no cluster made, no service started; remade likewise when that list changes.
# `run` mounts /proc, /sys, /dev and each DIR (at INNER) in a mount namespace of its own, so nothing
# stays mounted when COMMAND ends, however it ends. With --overlay, COMMAND's changes to ROOT go to a
# throwaway layer: the root stays as it was (a clean system for each package installed in it).
# Exits 75 when the Debian archive cannot be reached to make a root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${PGTRICKLE_RELAY_CACHE:-/var/cache/pgtrickle-relay}
usage() {
  echo "usage: scripts/debian-root.sh make|path RELEASE [build|server] | archive RELEASE | run ROOT [--bind DIR:INNER]... [--overlay] [--] COMMAND..." >&2
  exit 2
}

root_path() {  # RELEASE [build|server]
  case "$1" in bookworm | trixie | forky) ;; *) echo "debian-root.sh: release $1 is not bookworm, trixie or forky" >&2; exit 2 ;; esac
  case "${2:-}" in "" | build | server) ;; *) echo "debian-root.sh: a root is plain, build or server, not $2" >&2; exit 2 ;; esac
  echo "$cache/roots/$1${2:+-$2}"
}

# COMMAND in ROOT, in a mount namespace of its own. --bind DIR:INNER makes DIR visible at INNER.
run_in() {
  local root=$1; shift
  local binds=() overlay=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --bind) binds+=("$2"); shift 2 ;;
      --overlay) overlay=1; shift ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || usage
  [ -x "$root/usr/bin/apt-get" ] || { echo "debian-root.sh: no Debian root at $root" >&2; exit 1; }
  local layer=""
  if [ -n "$overlay" ]; then layer=$(mktemp -d /tmp/pgtrickle-relay-overlay.XXXXXX); fi
  # The namespace's script: its arguments are the root, the layer, the binds, then COMMAND.
  local script='
    set -e
    root=$1 layer=$2 nbinds=$3; shift 3
    if [ -n "$layer" ]; then
      mkdir -p "$layer/upper" "$layer/work" "$layer/merged"
      mount -t overlay overlay -o "lowerdir=$root,upperdir=$layer/upper,workdir=$layer/work" "$layer/merged"
      root=$layer/merged
    fi
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/tmp"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    while [ "$nbinds" -gt 0 ]; do
      dir=${1%%:*} inner=${1#*:}; shift; nbinds=$((nbinds - 1))
      mkdir -p "$root$inner"
      mount --bind "$dir" "$root$inner"
    done
    exec chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      ${RELAY_GIT_REVISION:+RELAY_GIT_REVISION=$RELAY_GIT_REVISION} ${SOURCE_DATE_EPOCH:+SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH} "$@"'
  local rc=0
  unshare --mount --propagation private sh -c "$script" sh "$root" "$layer" "${#binds[@]}" "${binds[@]}" "$@" || rc=$?
  [ -z "$layer" ] || rm -rf "$layer"
  return "$rc"
}

# The Debian mirror apt uses here, and its security archive.
mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 2>/dev/null | grep -v -e security | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian/}"
}
security_mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 2>/dev/null | grep security | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian-security/}"
}

# debootstrap writes no /etc/hosts (an installer does): without it "localhost" resolves to nothing.
hosts_file() {
  [ -e "$1/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$1/etc/hosts"
}

# The mirror, when it answers for RELEASE; else exits 75.
archive() {
  local mirror
  mirror=$(mirror)
  if ! curl -fsS -o /dev/null --max-time 30 "${mirror%/}/dists/$1/Release"; then
    echo "debian-root.sh: the Debian archive $mirror cannot be reached for $1" >&2
    exit 75
  fi
  echo "$mirror"
}

make_plain() {  # RELEASE -> the clean minbase root
  local release=$1 dir mirror tmp
  dir=$(root_path "$release")
  if [ -x "$dir/usr/bin/apt-get" ]; then hosts_file "$dir"; return 0; fi
  command -v debootstrap >/dev/null || { echo "debian-root.sh: no debootstrap (apt-get install debootstrap)" >&2; exit 1; }
  mirror=$(archive "$release")
  echo "debian-root.sh: making $dir (debootstrap --variant=minbase $release $mirror)" >&2
  mkdir -p "$cache/roots"
  tmp=$(mktemp -d "$cache/roots/.$release.XXXXXX")
  # A release newer than this debootstrap (forky, Debian's testing, on Debian 12) is made as sid is.
  local script=""
  [ -e "/usr/share/debootstrap/scripts/$release" ] || script=/usr/share/debootstrap/scripts/sid
  if ! debootstrap --variant=minbase "$release" "$tmp" "$mirror" $script >"$tmp.log" 2>&1; then
    tail -n 30 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    echo "debian-root.sh: debootstrap $release failed" >&2
    exit 1
  fi
  rm -f "$tmp.log" "$tmp/etc/apt/sources.list"
  hosts_file "$tmp"
  if [ "$release" = forky ]; then
    # Testing: its -updates and -security suites stay empty, and its Release file is valid for a
    # week only (a mirror that serves a snapshot of the archive serves an expired one).
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$release" >"$tmp/etc/apt/sources.list.d/debian.sources"
    echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99pgtrickle-relay-testing"
  else
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$release" "$release" "$(security_mirror)" "$release" >"$tmp/etc/apt/sources.list.d/debian.sources"
  fi
  # No apt lists or archives kept: each use updates them first.
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/var/log/*.log
  chmod 755 "$tmp"
  mv "$tmp" "$dir"
}

# The release's PostgreSQL server, as the release ships it.
server_packages() {  # RELEASE
  case "$1" in
    bookworm) echo postgresql-15 postgresql-client-15 ;;
    trixie) echo postgresql-17 postgresql-client-17 ;;
    forky) echo postgresql-18 postgresql-client-18 ;;
  esac
}

# What a build or server root was made from (its stamp file): `make` brings the root up to date
# when it changes. The build root: this tree's install-deps.sh; the server root: its packages.
stamp_of() {  # RELEASE build|server
  case "$2" in
    build) sha256sum <"$here/scripts/install-deps.sh" | cut -d' ' -f1 ;;
    server) server_packages "$1" | sha256sum | cut -d' ' -f1 ;;
  esac
}
stamp_file() {  # build|server
  case "$1" in build) echo .pgtrickle-relay-deps ;; server) echo .pgtrickle-relay-packages ;; esac
}

# Installs a build or server root's packages into ROOT (up to the release's current ones).
install_build() {  # RELEASE ROOT
  # install-deps.sh of this tree, inside: the same lists as on this machine, for that release.
  run_in "$2" --bind "$here/scripts:/opt/pgtrickle-relay-scripts" -- sh -c '
    set -e
    apt-get update -qq
    apt-get upgrade -y -qq >/dev/null
    apt-get install -y -qq --no-install-recommends ca-certificates ccache dpkg-dev file >/dev/null
    /opt/pgtrickle-relay-scripts/install-deps.sh tests
    /opt/pgtrickle-relay-scripts/install-deps.sh arm64
    apt-get clean'
}
install_server() {  # RELEASE ROOT
  # No service starts here and the package makes no cluster: scripts/pg-server.sh makes its own.
  printf '#!/bin/sh\nexit 101\n' >"$2/usr/sbin/policy-rc.d"
  chmod 755 "$2/usr/sbin/policy-rc.d"
  mkdir -p "$2/etc/postgresql-common"
  echo 'create_main_cluster = false' >"$2/etc/postgresql-common/createcluster.conf"
  run_in "$2" -- sh -c "
    set -e
    apt-get update -qq
    apt-get upgrade -y -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $(server_packages "$1") >/dev/null
    apt-get clean"
}

# RELEASE build|server -> the plain root plus the build's packages or the release's PostgreSQL,
# kept up to date: a copy of the plain root (which stays clean) made once, brought up to date when
# its stamp changed.
make_derived() {
  local release=$1 kind=$2 plain dir tmp stamp what
  make_plain "$release"
  plain=$(root_path "$release")
  dir=$(root_path "$release" "$kind")
  stamp=$(stamp_of "$release" "$kind")
  if is_made "$release" "$kind"; then hosts_file "$dir"; return 0; fi
  case "$kind" in build) what="the build's packages" ;; server) what=$(server_packages "$release") ;; esac
  if [ ! -x "$dir/usr/bin/apt-get" ]; then
    echo "debian-root.sh: making $dir (a copy of $plain with $what)" >&2
    tmp=$(mktemp -d "$cache/roots/.$release-$kind.XXXXXX")
    cp -a "$plain/." "$tmp/"
    # No documentation: it serves neither, and the :arm64 -dev packages' man pages may differ from
    # the native ones' (another build of the same version), which dpkg refuses.
    printf 'path-exclude=/usr/share/%s/*\n' man doc info locale >"$tmp/etc/dpkg/dpkg.cfg.d/pgtrickle-relay-$kind"
  else
    tmp=$dir
  fi
  if ! "install_$kind" "$release" "$tmp" >"$cache/roots/$release-$kind.log" 2>&1; then
    tail -n 30 "$cache/roots/$release-$kind.log" >&2
    [ "$tmp" = "$dir" ] || rm -rf "$tmp"
    archive "$release" >/dev/null  # exits 75 when the archive is the cause
    echo "debian-root.sh: installing $what into the $release root failed" >&2
    exit 1
  fi
  rm -rf "$tmp"/var/lib/apt/lists/*  # each use updates them first
  echo "$stamp" >"$tmp/$(stamp_file "$kind")"
  [ "$tmp" = "$dir" ] || mv "$tmp" "$dir"
}

# Whether the root is made and current (what `make` would leave as it is).
is_made() {  # RELEASE [build|server]
  local dir
  dir=$(root_path "$1" "${2:-}")
  [ -x "$dir/usr/bin/apt-get" ] || return 1
  [ -z "${2:-}" ] || [ "$(cat "$dir/$(stamp_file "$2")" 2>/dev/null)" = "$(stamp_of "$1" "$2")" ]
}

[ "$(id -u)" = 0 ] || { echo "debian-root.sh: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
cmd=${1:-}; shift || true
case "$cmd" in
  path) [ $# -ge 1 ] || usage; root_path "$1" "${2:-}" ;;
  archive) [ $# -eq 1 ] || usage; root_path "$1" >/dev/null; archive "$1" ;;
  make)
    [ $# -ge 1 ] || usage
    root_path "$1" "${2:-}" >/dev/null
    # A made root is used at once: the lock is for making one (which may take minutes).
    if is_made "$1" "${2:-}"; then
      hosts_file "$(root_path "$1" "${2:-}")"
      root_path "$1" "${2:-}"
      exit 0
    fi
    mkdir -p "$cache/roots"
    exec 9>"$cache/roots/.lock"
    flock 9
    if [ -n "${2:-}" ]; then make_derived "$1" "$2"; else make_plain "$1"; fi
    root_path "$1" "${2:-}"
    ;;
  run) [ $# -ge 2 ] || usage; run_in "$@" ;;
  *) usage ;;
esac
