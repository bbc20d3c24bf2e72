#!/usr/bin/env bash
# Regenerates what is derived from the backend specs: the spec rows of the SQL install
# (sql/install/04_config_spec_rows.sql, the whole file) and docs/config-reference.md. Run after
# changing a spec.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The most recently built binary (build/ or a build-*/ directory of a partial build).
relay=$(ls -t "$root"/build*/pgtrickle-relay 2>/dev/null | head -n 1 || true)
[ -n "$relay" ] || { "$root/scripts/build.sh" relay; relay="$root/build/pgtrickle-relay"; }
"$relay" spec --markdown >"$root/docs/config-reference.md"
"$relay" spec --sql >"$root/sql/install/04_config_spec_rows.sql"
echo "regenerated sql/install/04_config_spec_rows.sql and docs/config-reference.md"
