# A corrupt cache entry: verify reports it (exit 3), --repair drops it, the next run recomputes
# only what is needed and the report is unchanged.
source "$(dirname "$0")/lib.inc"

"$GHX" run experiments/demo.toml --json >/dev/null 2>&1
cp reports/demo-v1/results.json before.json
out=$("$GHX" cache verify --json)
expect_eq "$(json_field checked "$out")" 525 "entries checked"
blob=$(find cache/objects -type f -size +2k | sort | sed -n 1p)  # a PNG or Gram set: unique content
printf 'X' | dd of="$blob" bs=1 seek=0 conv=notrunc status=none
set +e
"$GHX" cache verify >/dev/null; rc=$?
set -e
expect_eq "$rc" 3 "verify exit code on a corrupt blob"
out=$("$GHX" cache verify --repair --json)
expect_eq "$(json_field repaired "$out")" 1 "repaired"
out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
[ "$(json_field executed "$out")" -ge 1 ] || fail "nothing recomputed after repair"
cmp -s before.json reports/demo-v1/results.json || fail "results changed after repair"
out=$("$GHX" cache gc --json)
out=$("$GHX" cache stats --json)
grep -q '"generate":{"bytes":[0-9]*,"done":156' <<<"$out" || fail "stats: $out"
echo "1 passed, 0 failed"
