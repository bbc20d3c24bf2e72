#!/usr/bin/env bash
# Regenerates what is derived from the backend specs: the spec rows of the SQL install (between the
# GENERATED CONFIG SPEC markers) and docs/config-reference.md. Run after changing a spec.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The most recently built binary (build/ or a build-*/ directory of a partial build).
relay=$(ls -t "$root"/build*/pgtrickle-relay 2>/dev/null | head -n 1 || true)
[ -n "$relay" ] || { "$root/scripts/build.sh"; relay="$root/build/pgtrickle-relay"; }
"$relay" spec --markdown >"$root/docs/config-reference.md"
block=$("$relay" spec --sql)
python3 - "$root/sql/pgtrickle_relay.sql" "$block" <<'PY'
import sys
path, block = sys.argv[1], sys.argv[2]
text = open(path).read()
begin, end = "-- BEGIN GENERATED CONFIG SPEC", "-- END GENERATED CONFIG SPEC"
i, j = text.index(begin), text.index(end)
open(path, "w").write(text[: i + len(begin)] + "\n" + block.rstrip("\n") + "\n" + text[j:])
PY
echo "regenerated sql/pgtrickle_relay.sql (spec block) and docs/config-reference.md"
