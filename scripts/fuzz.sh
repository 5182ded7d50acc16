#!/usr/bin/env bash
# Fuzzes every parser of outside data (tests/fuzz/fuzz_*.cpp, docs/reliability.md) with clang's
# libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: bash scripts/fuzz.sh [SECONDS]   each target runs SECONDS (default 30)
# Builds into build-fuzz/ (clang, ccache), runs each target from a copy of its seed corpus
# (tests/fuzz/corpus/<target>/, never modified) plus its regressions, with an input slower than
# 2 s, over 1 GB of memory, a leak or any sanitizer report counted as a failure. Exits non-zero if
# any target failed; the input that failed is kept under build-fuzz/findings/<target>/: copy it
# into tests/fuzz/regressions/<target>/ once fixed (the test suite replays those).
# Figures per target (executions, seconds, new corpus inputs) go to build-fuzz/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-30}"
bash scripts/setup.sh --fuzz
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DGHX_FUZZ=ON \
  -DBUILD_TESTING=OFF >/dev/null
ninja -C build-fuzz -j"$(nproc)" fuzz_targets
out=build-fuzz/findings
rm -rf "$out" build-fuzz/work
mkdir -p "$out" build-fuzz/work
summary=build-fuzz/fuzz-summary.txt
: >"$summary"
failed=0
for bin in build-fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  t=$(basename "$bin"); t=${t#fuzz_}
  work="build-fuzz/work/$t"
  mkdir -p "$work/corpus" "$work/tmp" "$out/$t"
  cp -r tests/fuzz/corpus/"$t"/. "$work/corpus/" 2>/dev/null || true
  seeds=(); [ -d "tests/fuzz/regressions/$t" ] && seeds+=("tests/fuzz/regressions/$t")
  set +e
  TMPDIR="$PWD/$work/tmp" ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=2 -rss_limit_mb=1024 -malloc_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$out/$t/" "$work/corpus" "${seeds[@]}" >"$work/log.txt" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log.txt" | grep -o '[0-9]*$' || echo 0)
  line="$t: ${execs:-0} executions in ${SECONDS_EACH} s, corpus $(ls "$work/corpus" | wc -l) inputs"
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    line="$line: FAILED (exit $rc; log $work/log.txt, input in $out/$t/)"
    grep -m3 'ERROR\|SUMMARY\|runtime error' "$work/log.txt" >&2 || true
  fi
  echo "$line" | tee -a "$summary"
done
echo "$failed target(s) failed" | tee -a "$summary"
[ "$failed" = 0 ]
