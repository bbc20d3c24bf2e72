# A package installed in a clean Debian root of its release, as a user of that release installs it
# (tests/package/in-root.sh, in a throwaway layer over scripts/debian-root.sh's minbase root of the
# release). Sourced by tests/package/check-releases.sh and check-arm64.sh, which define step, fail,
# root (the tree) and work (a scratch directory).

# in_clean_root RELEASE DEB: installs DEB in a clean RELEASE root and runs the demo there against the
# release's PostgreSQL; a package of another architecture than the root's (arm64) goes in as
# multiarch and runs under qemu-user. Returns 75 when the Debian archive cannot be reached.
in_clean_root() {
  local release=$1 deb=$2 dir clean rc=0 t0=$SECONDS
  step "$(basename "$deb") in a clean $release root"
  clean=$("$root/scripts/debian-root.sh" make "$release" 2>"$work/root.log") || rc=$?
  if [ "$rc" = 75 ]; then cat "$work/root.log" >&2; return 75; fi
  [ "$rc" = 0 ] || { cat "$work/root.log" >&2; fail "scripts/debian-root.sh make $release"; }
  dir="$work/in-root-$release-$(dpkg-deb -f "$deb" Architecture)"
  mkdir -p "$dir"
  cp "$deb" "$dir/"
  if [ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ]; then
    cp "$(command -v qemu-aarch64-static)" "$dir/" || fail "no qemu-aarch64-static (scripts/install-deps.sh arm64)"
  fi
  local rdkafka
  rdkafka=$(sed -n 's/^version=//p' "$root/scripts/librdkafka.sh")
  "$root/scripts/debian-root.sh" run "$clean" --overlay --bind "$root:/src" --bind "$dir:/work" -- \
    bash /src/tests/package/in-root.sh "/work/$(basename "$deb")" "$rdkafka" || fail "$(basename "$deb") in a clean $release root"
  echo "($((SECONDS - t0)) s)"
}
