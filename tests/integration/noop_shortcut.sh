# A run with nothing new since the last complete run answers from that run's record, without
# planning (run/run.h unchanged_run, docs/performance.md): the same output as a run that plans
# and checks every step. Everything the plan is made from invalidates the record: the review's
# and suites' bytes, a folder of targets, a hashed model file, a stored result deleted (even by
# SQLite's own shell), the report folder touched, another --out, another working folder.
source "$(dirname "$0")/lib.inc"

run_json() { "$GHX" run experiments/demo.toml --json "$@" 2>/dev/null; }
"$GHX" run experiments/demo.toml >/dev/null 2>&1
total=$(json_field total "$(run_json)")
# A metric step of this plan (taken now: steps of a changed model file, written below, stay in the
# cache unreferenced after the file comes back, and deleting one of those would rerun nothing).
metric_key=$(sqlite3 cache/ghx.db "select key from steps where kind='metric' order by key limit 1")
[ -n "$metric_key" ] || fail "no metric step stored"

# The same answer, human and JSON, with and without the shortcut (but "planned").
GHX_RUN_SHORTCUT=0 "$GHX" run experiments/demo.toml >full.out 2>full.err
"$GHX" run experiments/demo.toml >quick.out 2>quick.err
diff full.out quick.out >/dev/null || fail "human output differs: $(diff full.out quick.out)"
diff full.err quick.err >/dev/null || fail "stderr differs: $(diff full.err quick.err)"
full=$(GHX_RUN_SHORTCUT=0 "$GHX" run experiments/demo.toml --json 2>/dev/null)
quick=$(run_json)
expect_eq "$(json_field planned "$full")" true "planned without the shortcut"
expect_eq "$(json_field planned "$quick")" false "planned with nothing new"
expect_eq "${quick/\"planned\":false/}" "${full/\"planned\":true/}" "JSON with and without the shortcut"
expect_eq "$(json_field cached "$quick")" "$total" "cached steps reported"

# expect_planned WHAT EXECUTED: the next run plans (and runs EXECUTED steps); the one after it
# takes the shortcut again.
expect_planned() {
  local o
  o=$(run_json)
  expect_eq "$(json_field planned "$o")" true "planned after: $1"
  expect_eq "$(json_field executed "$o")" "$2" "steps run after: $1"
  o=$(run_json)
  expect_eq "$(json_field planned "$o")" false "the shortcut again after: $1"
  expect_eq "$(json_field executed "$o")" 0 "steps run the second time after: $1"
}

touch experiments/demo.toml suites/styles_demo.toml
expect_eq "$(json_field planned "$(run_json)")" false "after touching files (same bytes)"
echo "# a comment" >>experiments/demo.toml
expect_planned "a comment added to the review" 0
echo "# a comment" >>suites/quality_demo.toml
expect_planned "a comment added to a suite" 0

# A hashed file whose bytes change: its steps run again.
cp models/tiny/aesthetic.safetensors aesthetic.bak
python3 - <<'EOF'
import json, struct
p = "models/tiny/aesthetic.safetensors"
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
b[8 + n] ^= 0x01  # one bit of the first weight
open(p, "wb").write(b)
EOF
o=$(run_json)
expect_eq "$(json_field planned "$o")" true "planned after a model file changed"
[ "$(json_field executed "$o")" -gt 0 ] || fail "no step ran after the aesthetic head changed"
cp aesthetic.bak models/tiny/aesthetic.safetensors
run_json >/dev/null
expect_eq "$(json_field planned "$(run_json)")" false "the shortcut after the file came back"

# A result deleted by hand (the cache counts it by trigger): that step runs again.
sqlite3 cache/ghx.db "delete from steps where key = '$metric_key'"
expect_planned "a stored result deleted with sqlite3" 1

# A target image added to a style's folder: the style's losses are computed again.
cp suites/targets/manga/1.png suites/targets/anime/3.png
o=$(run_json)
expect_eq "$(json_field planned "$o")" true "planned after a target image was added"
[ "$(json_field executed "$o")" -gt 0 ] || fail "the added target changed no step"
rm suites/targets/anime/3.png
run_json >/dev/null

# The report folder touched; another report folder; another working folder.
touch reports/demo-v1/report.md
expect_planned "a report file touched" 0
o=$(run_json --out other)
expect_eq "$(json_field planned "$o")" true "planned for another --out"
mkdir elsewhere
o=$(cd elsewhere && "$GHX" run ../experiments/demo.toml --cache ../cache --out ../reports/demo-v1 --json 2>/dev/null)
expect_eq "$(json_field planned "$o")" true "planned from another working folder"
expect_eq "$(json_field executed "$o")" 0 "steps run from another working folder"

# A run with a failed step leaves no record: the same run again plans (and fails) again.
expect_planned "the run from another working folder" 0
printf 'not an image' >suites/targets/anime/9.png
set +e
o1=$(run_json)
o2=$(run_json)
set -e
expect_eq "$(json_field planned "$o1")" true "planned with a broken target"
[ "$(json_field failed "$o1")" -gt 0 ] || fail "the broken target failed no step"
expect_eq "$(json_field planned "$o2")" true "planned again after a failed run"
[ "$(json_field failed "$o2")" -gt 0 ] || fail "the second run with the broken target failed no step"
rm suites/targets/anime/9.png
expect_eq "$(json_field planned "$(run_json)")" false "the last complete run's record, once its inputs are back"
echo ok
