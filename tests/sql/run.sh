#!/usr/bin/env bash
# SQL tests of the SQL install: the build's pgtrickle_relay.sql (sql/install/*.sql joined), or the
# file PGTRICKLE_RELAY_INSTALL_SQL names.
#
#   PGTRICKLE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:55440/postgres tests/sql/run.sh [test.sql ...]
#
# The URL is a maintenance connection (database "postgres") of a superuser. Each test gets a
# fresh database in which the install is applied twice: with psql, then as one string through
# libpq's PQexec; the second application must leave the catalog, spec and grants exactly as
# the first did. The test file then runs under psql with ON_ERROR_STOP, after
# support/lib.sql. Without arguments every tests/sql/*.sql runs. A test applies the install again
# with `\i :install_sql` (psql) or "$PGTRICKLE_RELAY_INSTALL_SQL" (a shell command).
#
# Markers in a test file:
#   -- requires: pg_trickle    CREATE EXTENSION pg_trickle (the test double in
#                              tests/fixtures/pg_trickle_fake) before the install
#   -- expect-stdout: TEXT     psql's output must contain TEXT (e.g. a notification it printed)
# Tests run from the repository root (for \! commands). Roles a test creates must be named
# "<current_database()>_..."; they are dropped afterwards.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
install_sql=${PGTRICKLE_RELAY_INSTALL_SQL:-$root/build/pgtrickle_relay.sql}
[ -f "$install_sql" ] || { echo "run.sh: $install_sql does not exist; build first (scripts/build.sh)" >&2; exit 2; }
maint_url=${PGTRICKLE_TEST_POSTGRES_URL:?set PGTRICKLE_TEST_POSTGRES_URL to a maintenance URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres}

# The maintenance URL with another database name (URL or key=value conninfo).
db_url() {
  local url=$maint_url db=$1
  if [[ $url =~ ^postgres(ql)?:// ]]; then
    local base=${url%%\?*} query=""
    [[ $url == *\?* ]] && query="?${url#*\?}"
    local rest=${base#*://}
    if [[ $rest == */* ]]; then base=${base%/*}; fi
    printf '%s/%s%s' "$base" "$db" "$query"
  else
    printf "%s dbname='%s'" "$url" "$db"
  fi
}

psql_at() { psql "$1" -X -q -v ON_ERROR_STOP=1 -At "${@:2}"; }

ensure_fake_pg_trickle() {
  local control
  control="$(pg_config --sharedir)/extension/pg_trickle.control"
  [[ -f $control ]] && return 0
  if [[ $(id -u) == 0 ]]; then
    "$root/tests/fixtures/pg_trickle_fake/install.sh" >/dev/null || return 1
  else
    echo "pg_trickle is not installed; run tests/fixtures/pg_trickle_fake/install.sh as root" >&2
    return 1
  fi
}

fingerprint() { psql_at "$1" -f "$here/support/fingerprint.sql"; }

# The relay's `install` sends the file in one PQexec call; without python3, psql -f has to do.
apply_as_one_string() {
  if command -v python3 >/dev/null; then
    python3 "$here/support/pqexec.py" "$1" "$install_sql"
  else
    echo "(python3 not found: applying with psql -f instead)"
    psql "$1" -X -q -v ON_ERROR_STOP=1 -f "$install_sql"
  fi
}

run_one() {
  local test=$1 name db url work rc=0
  name=$(basename "$test" .sql)
  db=$(printf 'pgtr_%s_%s_%s' "$name" "$$" "$RANDOM" | tr -c 'a-z0-9_\n' '_' | cut -c1-50)
  url=$(db_url "$db")
  work=$(mktemp -d)

  {
    psql_at "$maint_url" -c "CREATE DATABASE \"$db\"" &&
    if grep -q '^-- requires: pg_trickle' "$test"; then
      ensure_fake_pg_trickle && psql_at "$url" -c 'CREATE EXTENSION pg_trickle'
    fi &&
    echo "== install (psql -f)" &&
    psql "$url" -X -q -v ON_ERROR_STOP=1 -f "$install_sql" &&
    fingerprint "$url" >"$work/first" &&
    echo "== install again (one PQexec string)" &&
    apply_as_one_string "$url" &&
    fingerprint "$url" >"$work/second" &&
    { diff -u "$work/first" "$work/second" || { echo "re-install changed the catalog (see diff above)"; false; }; } &&
    echo "== $name" &&
    (cd "$root" && PGTRICKLE_RELAY_INSTALL_SQL="$install_sql" \
       psql "$url" -X -q -v ON_ERROR_STOP=1 -v install_sql="$install_sql" -f "$here/support/lib.sql" -f "$test")
  } >"$work/out" 2>&1 || rc=1

  if [[ $rc == 0 ]]; then
    while IFS= read -r expected; do
      if ! grep -qF -- "$expected" "$work/out"; then
        echo "expected in the output: $expected" >>"$work/out"
        rc=1
      fi
    done < <(sed -n 's/^-- expect-stdout: //p' "$test")
  fi

  psql_at "$maint_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >>"$work/out" 2>&1
  for role in $(psql_at "$maint_url" -c "SELECT quote_ident(rolname) FROM pg_roles WHERE starts_with(rolname, '${db}_')"); do
    psql_at "$maint_url" -c "DROP ROLE $role" >>"$work/out" 2>&1
  done

  if [[ $rc == 0 ]]; then
    echo "ok     $name"
  else
    echo "FAILED $name"
    sed 's/^/    /' "$work/out"
  fi
  rm -rf "$work"
  return $rc
}

tests=("$@")
if [[ ${#tests[@]} == 0 ]]; then
  tests=("$here"/*.sql)
fi
failed=0
for t in "${tests[@]}"; do
  [[ -f $t ]] || { echo "no such test: $t"; failed=$((failed + 1)); continue; }
  run_one "$t" || failed=$((failed + 1))
done
if [[ $failed != 0 ]]; then
  echo "$failed of ${#tests[@]} SQL test(s) failed"
  exit 1
fi
echo "all ${#tests[@]} SQL test(s) passed"
