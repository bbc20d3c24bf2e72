#!/usr/bin/env bash
# Build the fuzz targets with clang (sanitizers on) into ./build-fuzz and run each over its corpus
# for a bounded time. Fails on any crash, hang, leak or sanitizer report; the input that caused it
# is kept in build-fuzz/findings/ and printed. Usage: fuzz/run.sh [seconds per target, default 30]
# [target ...]; fuzz/run.sh build [target ...] only builds them. New inputs go to
# build-fuzz/corpus/<target>/, never into fuzz/corpus/ (see README).
# Target "expression" is no libFuzzer target: fuzz/expression_fuzz.py runs the SQL install's
# expression checker on the PostgreSQL server PGTRICKLE_TEST_POSTGRES_URL names (skipped without).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config template payload inbox json_scan pgoutput streamed debezium_value geo avro expression)
build="$root/build-fuzz"
built=()
for t in "${targets[@]}"; do [ "$t" = expression ] || built+=("${t}_fuzz"); done

. "$root/scripts/compiler-cache.sh"
use_compiler_cache "$root"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_COMPILER_LAUNCHER:STRING="$launcher" -DCMAKE_CXX_COMPILER_LAUNCHER:STRING="$launcher" \
  -DRELAY_BUILD_FUZZ=ON -DRELAY_BUILD_TESTS=OFF -DRELAY_BUILD_BENCH=OFF >/dev/null
[ ${#built[@]} -eq 0 ] || cmake --build "$build" --parallel "${FUZZ_BUILD_JOBS:-$(nproc)}" --target "${built[@]}"
[ "$seconds" != build ] || exit 0

mkdir -p "$build/findings"

# Fuzzes one target; what it says goes to stdout, and its status says whether it found anything.
fuzz_one() {
  local t=$1 log="$build/findings/$1.log"
  if [ "$t" = expression ]; then
    echo "fuzz: expression for ${seconds}s"
    if python3 "$root/fuzz/expression_fuzz.py" --seconds "$seconds" --corpus "$root/fuzz/corpus/expression" \
         --findings "$build/findings" >"$log" 2>&1; then
      grep -E '^stat::|^Done' "$log" | sed "s/^/  /" || true
      return 0
    fi
    echo "fuzz: expression FAILED; log: $log"
    tail -n 20 "$log" | sed "s/^/  /"
    return 1
  fi
  mkdir -p "$build/corpus/$t"
  local dict=()
  [ ! -f "$root/fuzz/dict/$t.dict" ] || dict=(-dict="$root/fuzz/dict/$t.dict")
  echo "fuzz: $t for ${seconds}s"
  # The first corpus folder receives new inputs; the kept corpus is only read.
  if "$build/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
       -artifact_prefix="$build/findings/$t-" "${dict[@]}" "$build/corpus/$t" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done' "$log" | sed "s/^/  /" || true
    return 0
  fi
  echo "fuzz: $t FAILED; log: $log"
  grep -E -m1 -A12 'ERROR:|runtime error|property violated|what\(\)' "$log" | sed "s/^/  /" || tail -n 20 "$log"
  local input
  # One path a line (the tree's may hold spaces).
  while IFS= read -r input; do
    echo "  input kept: $input (reproduce: '$build/fuzz/${t}_fuzz' '$input')"
    echo "  base64: $(base64 -w0 "$input" | head -c 2000)"
  done < <(grep -o "Test unit written to .*" "$log" | sed 's/Test unit written to //')
  return 1
}

# As many targets at once as there are cores (FUZZ_JOBS); each one's lines are printed when it ends.
ran=()
for t in "${targets[@]}"; do
  if [ "$t" = expression ] && [ -z "${PGTRICKLE_TEST_POSTGRES_URL:-}" ]; then
    echo "fuzz: expression skipped (it needs a PostgreSQL server: set PGTRICKLE_TEST_POSTGRES_URL)"
    continue
  fi
  ran+=("$t")
done
jobs_max=${FUZZ_JOBS:-$(nproc)}
declare -A pids=()
for t in "${ran[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  fuzz_one "$t" >"$build/findings/$t.out" 2>&1 &
  pids[$t]=$!
done
failed=()
for t in "${ran[@]}"; do
  wait "${pids[$t]}" || failed+=("$t")
  cat "$build/findings/$t.out"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures in: ${failed[*]}" >&2
  exit 1
fi
if [ ${#ran[@]} -eq 0 ]; then echo "fuzz: no target ran"; else echo "fuzz: no crash in ${ran[*]} (${seconds}s each)"; fi
