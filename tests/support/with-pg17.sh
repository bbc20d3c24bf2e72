#!/usr/bin/env bash
# Runs a test command against the PostgreSQL 17 that scripts/test.sh started (PGTRICKLE_TEST_PG17_URL,
# Debian 13's server in a root of that release) in place of the suite's PostgreSQL 15: the pg17.*
# entries of tests/CMakeLists.txt. Exits 77 (skipped) when there is none.
#   with-pg17.sh COMMAND [ARGUMENT]...
set -euo pipefail
if [ -z "${PGTRICKLE_TEST_PG17_URL:-}" ]; then
  echo "skipped: PGTRICKLE_TEST_PG17_URL is not set (scripts/test.sh sets it once PostgreSQL 17 has started from a" \
       "Debian 13 root; it cannot without root or when the Debian archive cannot be reached to make that root)"
  exit 77
fi
export PGTRICKLE_TEST_POSTGRES_URL=$PGTRICKLE_TEST_PG17_URL
exec "$@"
