#!/usr/bin/env bash
# Turns the fault suite's results (faults.jsonl, one JSON line per case and direction, written to
# $PGTRICKLE_TEST_WORK_DIR by tests/faults/) into the Markdown table of docs/faults.md.
#   tests/faults/table.sh <faults.jsonl>
set -euo pipefail
file=${1:?usage: table.sh <faults.jsonl>}
python3 - "$file" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows.sort(key=lambda r: (r["case"], r["backend"], r["direction"]))
print("| Fault | Backend | Direction | Sent | Delivered | Lost | Duplicates | Recovered after (s) | /health during the fault |")
print("|---|---|---|---:|---:|---:|---:|---:|---|")
for r in rows:
    recover = "-" if r.get("recover_seconds") is None else f'{r["recover_seconds"]:g}'
    health = r["health"].replace("|", "\\|")
    print(f'| {r["case"]} | {r["backend"]} | {r["direction"]} | {r["sent"]} | {r["delivered"]} | {r["lost"]} '
          f'| {r["duplicates"]} | {recover} | {health} |')
PY
