# ghx diff between two versions of the demo review: v2 edits one prompt (in a copy of the quality
# suite) and adds a fourth checkpoint. Both ways of naming the versions (report folders,
# experiment files) must name exactly those changes and the steps v2 reuses from v1.
source "$(dirname "$0")/lib.inc"

# The JSON as one line with the indentation gone: '{"a": "1","b": "2"}' (text inside strings
# keeps its single spaces).
flat() { tr -d '\n' | sed -E 's/ {2,}//g'; }
expect_in() { grep -qF -- "$2" <<<"$1" || fail "$3: expected '$2' in: $1"; }

out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field report "$out")" '"reports/demo-v1"' "v1 report folder"

old='photo of an old fisherman mending a net, golden hour, 85mm, film grain'
new='photo of an old fisherman repairing a net, golden hour, 85mm, film grain'
sed "s/$old/$new/" suites/quality_demo.toml > suites/quality_demo_v2.toml
grep -qF "$new" suites/quality_demo_v2.toml || fail "the v2 suite was not edited"
sed -e 's/^version = "1"/version = "2"/' -e 's#quality_demo\.toml#quality_demo_v2.toml#' \
  experiments/demo.toml > experiments/demo_v2.toml
cat >> experiments/demo_v2.toml <<'EOF'

[[checkpoint]]
name = "anything_v5"
backend_name = "anythingV5.safetensors"
EOF

# Steps v2 reuses from v1. v1 has 525 steps: per checkpoint 52 generate + 52 image_features +
# 64 metric = 168 (x 3 = 504), plus 13 target_features, 3 text_features, 4 aggregates, 1 report.
# v2 has 4 x 168 + 13 + 3 + 4 + 1 = 693. New in v2: the new checkpoint's 168; the edited prompt
# q01 for the 3 old checkpoints, 3 x 4 seeds x (generate, image_features, aesthetic, clip_score)
# = 48; q01's text_features, 1; every aggregate (they hold the new checkpoint's rows), 4; the
# report, 1. 168 + 48 + 1 + 4 + 1 = 222 new, so 693 - 222 = 471 reused.
reused=471
b_steps=693

check_declarations() {  # WHAT FLAT_JSON
  local j="$2"
  expect_eq "$(json_field count "$j")" 3 "$1: number of declaration changes"
  expect_in "$j" '"experiment": {"version": {"a": "1","b": "2"}}' "$1: version"
  local added='[{"identity": "backend_name:anythingV5.safetensors","name": "anything_v5"}]'
  expect_in "$j" "\"checkpoints\": {\"added\": $added,\"changed\": [],\"removed\": []}" "$1: checkpoint added"
  local edited="[{\"a\": \"$old\",\"b\": \"$new\",\"id\": \"q01\",\"section\": \"quality\"}]"
  expect_in "$j" "\"prompts\": {\"added\": [],\"edited\": $edited,\"removed\": []}" "$1: prompt edited"
  expect_eq "$(json_field reused "$j")" "$reused" "$1: reused steps"
  expect_eq "$(json_field b_steps "$j")" "$b_steps" "$1: v2 steps"
}

# Before v2 ran: the experiment files diff, the cache holds exactly the reused steps, no v2 results.
out=$("$GHX" diff experiments/demo.toml experiments/demo_v2.toml --json | flat)
check_declarations "experiments before v2 ran" "$out"
expect_in "$out" '"cache": {"by_kind": {' "cache counts by kind"
expect_in "$out" '"cached": 471,"dir"' "v2 steps in the cache before v2 ran"
expect_in "$out" '"text_features": {"reused": 2,"steps": 3}' "text_features reused"
expect_in "$out" '"results": {"available": false,' "no v2 results yet"

out=$("$GHX" run experiments/demo_v2.toml --json 2>/dev/null)
expect_eq "$(json_field executed "$out")" $((b_steps - reused)) "v2 executed"
expect_eq "$(json_field report "$out")" '"reports/demo-v2"' "v2 report folder"

out=$("$GHX" diff reports/demo-v1 reports/demo-v2 --json | flat)
check_declarations "report folders" "$out"
expect_in "$out" '"results": {"added": [{"name": "anything_v5","rank": ' "results: checkpoint added"
expect_in "$out" '"checkpoint_set_changed": true' "results: checkpoint set changed"
expect_in "$out" '"rank_change": ' "results: rank changes"
expect_in "$out" '"beyond_noise": ' "results: beyond noise"

out=$("$GHX" diff experiments/demo.toml experiments/demo_v2.toml --json | flat)
check_declarations "experiments" "$out"
expect_in "$out" '"cached": 693,"dir"' "v2 steps in the cache after v2 ran"
expect_in "$out" '"results": {"added": [{"name": "anything_v5","rank": ' "experiments: results from the cache"

md=$("$GHX" diff reports/demo-v1 reports/demo-v2 --md)
expect_in "$md" '| checkpoint | rank A | rank B | change |' "markdown rank table"
expect_in "$md" '| anything\_v5 | - |' "markdown: new checkpoint in the rank table"
expect_in "$md" '| quality | q01 | photo of an old fisherman mending a net' "markdown: edited prompt"
text=$("$GHX" diff reports/demo-v1 reports/demo-v2)
[ -n "$text" ] || fail "terminal output is empty"
expect_in "$text" 'Declarations: 3 changes' "terminal: declarations"
expect_in "$text" "B reuses $reused of $b_steps steps" "terminal: reuse"

# A version against itself: nothing declared changed, every step reused, same results.
out=$("$GHX" diff reports/demo-v2 experiments/demo_v2.toml --json | flat)
expect_eq "$(json_field count "$out")" 0 "v2 against itself"
expect_in "$out" '"same_results": true' "v2 against itself: same report step"

# Bad input: exit 2 with one clear message; nothing on stdout.
bad() {  # NAME EXPECTED_MESSAGE ARGS...
  local name="$1" msg="$2"
  shift 2
  set +e
  err=$("$GHX" diff "$@" 2>&1 >stdout.txt); rc=$?
  set -e
  expect_eq "$rc" 2 "$name: exit code"
  grep -qF -- "$msg" <<<"$err" || fail "$name: expected '$msg' in: $err"
  [ ! -s stdout.txt ] || fail "$name: wrote to stdout: $(cat stdout.txt)"
}
bad "absent path" "ghx: error: nope: no such experiment file or report folder" nope reports/demo-v2
expect_eq "$(printf '%s\n' "$err" | wc -l)" 1 "absent path: one line"
mkdir empty_folder
bad "folder without review.json" "empty_folder: no review.json in this folder" empty_folder reports/demo-v2
sed 's/^steps = 30/steps = = 30/' experiments/demo.toml > experiments/broken.toml
bad "TOML error" "broken.toml:16:" experiments/demo.toml experiments/broken.toml
bad "missing argument" "is required" reports/demo-v1
echo "1 passed, 0 failed"
