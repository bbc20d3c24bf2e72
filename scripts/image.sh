#!/usr/bin/env bash
# Builds the container image from the Dockerfile with buildah (into podman's image store), tagged
# pgtrickle-relay:<version>, pgtrickle-relay:<version>-<git revision> and pgtrickle-relay:latest.
#   scripts/image.sh [--deb FILE]      builds the image; prints its <version>-<revision> tag
#   scripts/image.sh podman ARGS...    podman with the settings below, e.g. `run --rm pgtrickle-relay --version`
# Without --deb the Dockerfile's build stage compiles this tree; --deb installs a package built before
# (scripts/package.sh) instead, which saves the compile.
# When no registry is reachable and the Dockerfile's base images are not in the store, they are made
# from the Debian mirror apt uses here: debootstrap --variant=minbase bookworm, imported as
# debian:bookworm and debian:bookworm-slim.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# podman as root in a container-less sandbox as well as on a host: runc (Debian's podman may come
# without crun), cgroups by cgroupfs (no systemd to ask), and no ulimits forced on containers (a
# sandbox may refuse to raise them). A CONTAINERS_CONF already set is left alone.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  export CONTAINERS_CONF="${TMPDIR:-/tmp}/pgtrickle-relay-containers.conf"
  [ -f "$CONTAINERS_CONF" ] || printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
fi
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
if [ "${1:-}" = podman ]; then shift; exec "${podman[@]}" "$@"; fi

deb=""
if [ "${1:-}" = --deb ]; then deb=$(realpath "${2:?--deb FILE}"); shift 2; fi
[ $# -eq 0 ] || { echo "usage: scripts/image.sh [--deb FILE] | scripts/image.sh podman ARGS..." >&2; exit 2; }
for tool in podman buildah; do
  command -v "$tool" >/dev/null || { echo "image.sh: $tool is missing (apt-get install podman buildah runc debootstrap)" >&2; exit 1; }
done

# The version and the revision --version shows: the package's, or this tree's.
if [ -n "$deb" ]; then
  version=$(dpkg-deb -f "$deb" Version)
  version=${version%%-*}  # the relay's own: the package's (0.1.0-1~deb12) names the release, and a tag has no ~
  revision=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/pgtrickle-relay/changelog.Debian.gz | gzip -dc |
             sed -n 's/.*built from git revision \(.*\)\.$/\1/p')
else
  version=$(sed -n 's/^project(pgtrickle-relay VERSION \([^ )]*\).*/\1/p' "$root/CMakeLists.txt")
  revision=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  if [ "$revision" != unknown ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    revision+=-modified
  fi
fi
[ -n "$version" ] && [ -n "$revision" ] || { echo "image.sh: no version or revision" >&2; exit 1; }

# The base images: the store's, a registry's, or made with debootstrap.
missing=()
for base in debian:bookworm-slim debian:bookworm; do
  "${podman[@]}" image exists "$base" || timeout 120 "${podman[@]}" pull -q "docker.io/library/$base" >/dev/null 2>&1 ||
    missing+=("$base")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v debootstrap >/dev/null || { echo "image.sh: no registry reachable and no debootstrap to make debian:bookworm" >&2; exit 1; }
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Identifier: Packages' | head -n 1)
  security=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm-security' 'Identifier: Packages' | head -n 1)
  [ -n "$mirror" ] || { echo "image.sh: apt has no bookworm mirror (/etc/apt/sources.list.d/)" >&2; exit 1; }
  echo "Making ${missing[*]} from $mirror (debootstrap --variant=minbase)" >&2
  rootfs=$(mktemp -d /tmp/pgtrickle-relay-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { cat "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  # The official images' sources: the release, its updates and security (the package's dependencies
  # may need their versions).
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror"
    [ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security"
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  # As in the official slim image: apt keeps no caches or translations, dpkg installs no documentation
  # but the copyright files.
  printf '%s\n' \
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' >"$rootfs/etc/apt/apt.conf.d/docker-clean"
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  excluded=(/usr/share/doc /usr/share/groff /usr/share/info /usr/share/lintian/overrides /usr/share/locale /usr/share/man)
  { printf 'path-exclude %s/*\n' "${excluded[@]}"; echo 'path-include /usr/share/doc/*/copyright'; } >"$rootfs/etc/dpkg/dpkg.cfg.d/docker"
  for dir in "${excluded[@]}"; do
    if [ -d "${rootfs:?}$dir" ]; then find "$rootfs$dir" -mindepth 1 ! -type d ! -path "$rootfs/usr/share/doc/*/copyright" -delete; fi
  done
  rm -rf "${rootfs:?}"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*
  tar --numeric-owner -C "$rootfs" -c . | "${podman[@]}" import -q - "${missing[0]}" >/dev/null
  [ ${#missing[@]} -eq 1 ] || "${podman[@]}" tag "${missing[0]}" "${missing[1]}"
  rm -rf "$rootfs"
fi

# --deb: a context of the package alone, which the Dockerfile's build stage installs as it is.
context=$root
args=(--build-arg RELAY_GIT_REVISION="$revision")
if [ -n "$deb" ]; then
  context=$(mktemp -d /tmp/pgtrickle-relay-context.XXXXXX)
  trap 'rm -rf "$context"' EXIT
  cp "$deb" "$context/"
fi
tag="pgtrickle-relay:$version-$revision"
previous=$("${podman[@]}" image inspect --format '{{.Id}}' pgtrickle-relay:latest 2>/dev/null || true)
# The docker format keeps the HEALTHCHECK (the OCI format has no place for it).
buildah bud --isolation chroot --pull=never --format docker "${args[@]}" \
  -f "$root/Dockerfile" -t "$tag" -t "pgtrickle-relay:$version" -t pgtrickle-relay:latest "$context" >&2
# The image this one replaces, when no tag names it any more (a container may still use it).
if [ -n "$previous" ] && [ -z "$("${podman[@]}" image inspect --format '{{join .RepoTags " "}}' "$previous" 2>/dev/null || echo kept)" ]; then
  "${podman[@]}" rmi "$previous" >/dev/null 2>&1 || true
fi
echo "$tag"
