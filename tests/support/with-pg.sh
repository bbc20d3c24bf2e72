#!/usr/bin/env bash
# Runs a test command against another PostgreSQL that scripts/test.sh started in place of the
# suite's PostgreSQL 15: 17 (PGTRICKLE_TEST_PG17_URL, Debian 13's) or 18 (PGTRICKLE_TEST_PG18_URL,
# Debian testing's), each in a root of its release; the pg17.* and pg18.* entries of
# tests/CMakeLists.txt. Exits 77 (skipped) when there is none.
#   with-pg.sh VERSION COMMAND [ARGUMENT]...
set -euo pipefail
version=${1:?usage: with-pg.sh VERSION COMMAND [ARGUMENT]...}
shift
var=PGTRICKLE_TEST_PG${version}_URL
if [ -z "${!var:-}" ]; then
  echo "skipped: $var is not set (scripts/test.sh sets it once PostgreSQL $version has started from a root of" \
       "the Debian release that ships it; it cannot without root or when the Debian archive cannot be reached to make that root)"
  exit 77
fi
export PGTRICKLE_TEST_POSTGRES_URL=${!var}
exec "$@"
