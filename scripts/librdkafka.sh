#!/usr/bin/env bash
# librdkafka 2.8.0 as a static library, for the relay's Kafka backend on Debian 12, whose librdkafka
# (2.0.2) fails SASL SCRAM logins to Kafka 4 (docs/operations.md#librdkafka). Built once from Debian
# 13's source package (the upstream tarball, checked against its SHA-256) into a prefix outside the
# tree that fresh clones reuse, as the compiler cache is (scripts/package.sh); cmake/Backends.cmake
# links it from there.
#   scripts/librdkafka.sh [amd64|arm64]            builds it unless built already, prints the prefix
#   scripts/librdkafka.sh --print-prefix [ARCH]    prints the prefix only (it may not exist yet)
# arm64 is cross-compiled with what scripts/install-deps.sh arm64 installs. The prefix holds
# lib/librdkafka.a, include/librdkafka/ and lib/pkgconfig/rdkafka-static.pc, which names the shared
# libraries it needs.
#
# The features of Debian's own librdkafka1, which the relay linked before: TLS; SASL PLAIN, SCRAM,
# OAUTHBEARER with OIDC token fetching (libcurl) and GSSAPI (Kerberos, Cyrus SASL); zstd, zlib, and
# LZ4 and Snappy (librdkafka's own copies). Its shared libraries are all ones the relay's package
# already needs: OpenSSL, libcurl and zlib by the relay itself, zstd by libcurl, Cyrus SASL by libpq.
set -euo pipefail
version=2.8.0
sha256=5bd1c46f63265f31c6bfcedcde78703f77d28238eadf23821c2b43fc30be3e25
tarball=librdkafka_$version.orig.tar.gz
features=(--enable-ssl --enable-gssapi --enable-curl --enable-zstd --enable-zlib --disable-lz4-ext)
required=(SSL SASL_CYRUS SASL_SCRAM SASL_OAUTHBEARER OAUTHBEARER_OIDC CURL ZSTD ZLIB SNAPPY)

print_prefix_only=""
if [ "${1:-}" = --print-prefix ]; then print_prefix_only=1; shift; fi
arch=${1:-$(dpkg --print-architecture)}
case "$arch" in
  amd64 | arm64) ;;
  *) echo "usage: scripts/librdkafka.sh [--print-prefix] [amd64|arm64]" >&2; exit 2 ;;
esac

# The shared cache directory; without the rights to it (not root), the build already there or one
# under the home directory.
cache=${PGTRICKLE_RELAY_CACHE:-/var/cache/pgtrickle-relay}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  [ -f "$cache/librdkafka-$version-$arch/lib/pkgconfig/rdkafka-static.pc" ] || cache=${XDG_CACHE_HOME:-$HOME/.cache}/pgtrickle-relay
fi
prefix=$cache/librdkafka-$version-$arch
if [ -n "$print_prefix_only" ]; then echo "$prefix"; exit 0; fi

# The hardening the relay itself is built with (CMakeLists.txt): Debian's flags, and control-flow
# protection for the processor.
cflags="$(DEB_HOST_ARCH=$arch dpkg-buildflags --get CFLAGS | sed 's/ *-ffile-prefix-map=[^ ]*//') -fstack-clash-protection"
cppflags=$(DEB_HOST_ARCH=$arch dpkg-buildflags --get CPPFLAGS)
ldflags=$(DEB_HOST_ARCH=$arch dpkg-buildflags --get LDFLAGS)
if [ "$arch" = amd64 ]; then cflags+=" -fcf-protection"; else cflags+=" -mbranch-protection=standard"; fi
# What the build in the prefix was made from: another recipe builds it again.
recipe="librdkafka $version $sha256 ${features[*]} CFLAGS=$cflags CPPFLAGS=$cppflags LDFLAGS=$ldflags"
built() { [ -f "$prefix/lib/pkgconfig/rdkafka-static.pc" ] && [ "$(cat "$prefix/recipe" 2>/dev/null)" = "$recipe" ]; }
if built; then echo "$prefix"; exit 0; fi
mkdir -p "$cache"

# One build at a time (two scripts may want it at once); the prefix appears whole, by a rename.
exec 9>"$cache/librdkafka.lock"
flock 9
if built; then echo "$prefix"; exit 0; fi
work=$(mktemp -d "$cache/librdkafka-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# The source, kept beside the builds: the other architecture's build fetches nothing.
if ! echo "$sha256  $cache/$tarball" | sha256sum -c --status 2>/dev/null; then
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
             grep -v -e security -e updates | head -n 1 || true)
  url=${mirror:-http://deb.debian.org/debian/}
  url=${url%/}/pool/main/libr/librdkafka/$tarball
  echo "librdkafka.sh: fetching $url" >&2
  curl -fsSL --retry 3 -o "$work/$tarball" "$url" || { echo "librdkafka.sh: cannot fetch $url" >&2; exit 1; }
  echo "$sha256  $work/$tarball" | sha256sum -c --status ||
    { echo "librdkafka.sh: $tarball does not have the SHA-256 $sha256" >&2; exit 1; }
  mv "$work/$tarball" "$cache/$tarball"
fi
tar -xzf "$cache/$tarball" -C "$work"
src=$work/librdkafka-$version

env=()
options=()
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  if [ "$arch" != arm64 ] || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    echo "librdkafka.sh: no cross compiler for $arch (scripts/install-deps.sh arm64)" >&2
    exit 1
  fi
  tool=aarch64-linux-gnu
  # The arm64 libraries' pkg-config files (multiarch), never the native ones.
  env+=(CC=$tool-gcc CXX=$tool-g++ AR=$tool-ar NM=$tool-nm RANLIB=$tool-ranlib STRIP=$tool-strip
        LD=$tool-ld OBJDUMP=$tool-objdump PKG_CONFIG_LIBDIR=/usr/lib/$tool/pkgconfig:/usr/share/pkgconfig)
  options+=(--arch=aarch64)
  # libsasl2-dev is not Multi-Arch: the native one's headers (alike on both 64-bit architectures), the
  # arm64 library (libsasl2-2:arm64, which libpq5:arm64 needs too) as libsasl2.so in the prefix.
  [ -f /usr/include/sasl/sasl.h ] && [ -f /usr/lib/$tool/libsasl2.so.2 ] ||
    { echo "librdkafka.sh: libsasl2-dev or libsasl2-2:arm64 is missing (scripts/install-deps.sh arm64)" >&2; exit 1; }
  mkdir -p "$work/prefix/lib"
  ln -s /usr/lib/$tool/libsasl2.so.2 "$work/prefix/lib/libsasl2.so"
  ldflags+=" -L$work/prefix/lib"
fi
echo "librdkafka.sh: building librdkafka $version for $arch into $prefix" >&2
(
  cd "$src"
  env "${env[@]}" CFLAGS="$cflags" CPPFLAGS="$cppflags" LDFLAGS="$ldflags" \
    ./configure --prefix="$prefix" --no-download --no-cache "${options[@]}" "${features[@]}"
  # A library without one of these would refuse settings that worked with Debian's.
  for feature in "${required[@]}"; do
    grep -q "^#define WITH_$feature 1" config.h || { echo "librdkafka.sh: configured without $feature" >&2; exit 1; }
  done
  # The C library alone, static: no shared library, C++ binding or example is built.
  env "${env[@]}" make -C src -j"$(nproc)" librdkafka.a rdkafka-static.pc
) >"$work/build.log" 2>&1 || { tail -n 50 "$work/build.log" >&2; echo "librdkafka.sh: the build failed" >&2; exit 1; }
stage=$work/prefix
install -d "$stage/include/librdkafka" "$stage/lib/pkgconfig" "$stage/share/doc/librdkafka"
install -m 644 "$src/src/rdkafka.h" "$src/src/rdkafka_mock.h" "$stage/include/librdkafka/"
install -m 644 "$src/src/librdkafka.a" "$stage/lib/"
install -m 644 "$src/src/rdkafka-static.pc" "$stage/lib/pkgconfig/"
install -m 644 "$src/LICENSE" "$src/LICENSES.txt" "$stage/share/doc/librdkafka/"
grep -q "^Version: $version\$" "$stage/lib/pkgconfig/rdkafka-static.pc" || { echo "librdkafka.sh: rdkafka-static.pc is not $version's" >&2; exit 1; }
echo "$recipe" >"$stage/recipe"
rm -rf "$prefix"
mv "$stage" "$prefix"
echo "librdkafka.sh: librdkafka $version for $arch built in $((SECONDS - started)) s" >&2
echo "$prefix"
