# The compiler cache (ccache) of the builds, sourced by scripts/build.sh, scripts/package.sh and
# fuzz/run.sh:
# objects are kept outside the tree, so that a fresh clone, as CI makes for each run, compiles only
# what changed since the last build. Paths under the tree are hashed relative to it, so clones in
# other directories share the objects.
# use_compiler_cache ROOT: sets $launcher, CMake's compiler launcher ("" without ccache).
launcher=""
use_compiler_cache() {
  command -v ccache >/dev/null || return 0
  export CCACHE_DIR=${CCACHE_DIR:-/var/cache/pgtrickle-relay/ccache}
  export CCACHE_BASEDIR=$1
  # Without the shared directory (not root): ccache's own, under the home directory.
  mkdir -p "$CCACHE_DIR" 2>/dev/null && [ -w "$CCACHE_DIR" ] || unset CCACHE_DIR
  launcher=ccache
}
