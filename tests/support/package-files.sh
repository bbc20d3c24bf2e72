# The package checks' common step, sourced by tests/package/check.sh and check-arm64.sh (which
# define step and fail): the .deb `deb` holds exactly what `cmake --install` of build directory $1
# lays out (the package adds its changelog), and lintian reports no error.
check_package_files() {
  local build_dir=$1
  step "cmake --install lays out the package's files"
  DESTDIR="$work/install" cmake --install "$build_dir" >/dev/null
  (cd "$work/install" && find . ! -type d | sed 's|^\.||' | sort) >"$work/installed"
  dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\.||' | grep -vx '/usr/share/doc/pgtrickle-relay/changelog.Debian.gz' | sort >"$work/packaged"
  diff "$work/installed" "$work/packaged" || fail "cmake --install and the package differ (beyond the package's changelog)"
  echo "$(wc -l <"$work/packaged") files, the same (the package adds its changelog)"

  step "lintian"
  lintian --fail-on error "$deb" 2>&1 | grep -v 'running with root privileges' || true
  lintian --fail-on error "$deb" >/dev/null 2>&1 || fail "lintian reports errors"
}
