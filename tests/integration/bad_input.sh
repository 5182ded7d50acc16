# Malformed input: exit 2, one FILE:LINE:COL message per problem, nothing written to the cache.
source "$(dirname "$0")/lib.inc"

check_bad() {  # NAME FILE EXPECTED_PREFIX
  set +e
  err=$("$GHX" run "$2" --cache "c_$1" 2>&1 >/dev/null); rc=$?
  set -e
  expect_eq "$rc" 2 "$1: exit code"
  grep -qF -- "$3" <<<"$err" || fail "$1: expected '$3' in: $err"
  [ ! -e "c_$1" ] || fail "$1: the cache folder was created"
}
cp experiments/demo.toml base.toml
sed -i 's#\.\./#./#g' base.toml

sed 's/^steps = 30/steps = = 30/' base.toml > syntax.toml
check_bad syntax syntax.toml "syntax.toml:16:"
sed 's/^steps = 30/stpes = 30/' base.toml > unknown.toml
check_bad unknown unknown.toml "unknown.toml:16:1: error: unknown key 'stpes' in [generation] (did you mean 'steps'?)"
sed 's/^steps = 30/steps = "30"/' base.toml > type.toml
check_bad type type.toml "type.toml:16:9: error: 'steps' must be an integer, not a string"
sed 's/^steps = 30/steps = -30/' base.toml > negative.toml
check_bad negative negative.toml "negative.toml:16:9: error: 'steps' = -30 is out of range"
sed 's#styles_demo.toml#missing.toml#' base.toml > nosuite.toml
check_bad nosuite nosuite.toml "nosuite.toml:52:10: error: style suite not found: './suites/missing.toml'"
sed 's#tiny/vgg19#tiny/none#' base.toml > nomodel.toml
check_bad nomodel nomodel.toml "nomodel.toml:37:18: error: model file not found"
sed 's/name = "dreamshaper_8"/name = "ghostmix_v2"/' base.toml > dup.toml
check_bad dup dup.toml "dup.toml:29:8: error: duplicate checkpoint name 'ghostmix_v2'"
: > empty.toml
check_bad empty empty.toml "empty.toml:1:1: error: empty file"
head -c 300 "$GHX" > garbage.toml
check_bad garbage garbage.toml "garbage.toml:1:"
check_bad absent absent.toml "absent.toml: error: cannot read file"

# Usage errors are exit 2 too.
set +e
"$GHX" run >/dev/null 2>&1; rc=$?
set -e
expect_eq "$rc" 2 "missing argument"

# --out naming a folder of the user's: refused before any work (the report folder is replaced whole).
mkdir -p mine && echo "years of work" > mine/thesis.tex
set +e
"$GHX" run experiments/demo.toml --out mine >/dev/null 2>err.txt; rc=$?
set -e
expect_eq "$rc" 2 "exit code for --out on a folder of the user's"
grep "not a ghx report folder" err.txt >/dev/null || fail "--out message: $(cat err.txt)"
expect_eq "$(cat mine/thesis.tex)" "years of work" "the user's file"
[ ! -e cache/ghx.db ] || [ "$(sqlite3 cache/ghx.db 'select count(*) from steps')" = 0 ] || fail "steps ran before --out was refused"

# A failing step: exit 1, the rest kept; its dependents are not run.
sed 's#targets/manga/#targets/bad/#' suites/styles_demo.toml > suites/bad_suite.toml
mkdir -p suites/targets/bad && printf 'not an image' > suites/targets/bad/x.png
sed 's#styles_demo.toml#bad_suite.toml#' experiments/demo.toml > experiments/bad.toml
set +e
out=$("$GHX" run experiments/bad.toml --keep-going --json 2>err.txt); rc=$?
set -e
expect_eq "$rc" 1 "exit code with a failed step"
expect_eq "$(json_field failed "$out")" 1 "failed steps"
grep -q "x.png: not a readable image" err.txt || fail "failure message: $(cat err.txt)"
[ "$(json_field executed "$out")" -gt 100 ] || fail "unrelated steps did not run: $out"
echo "1 passed, 0 failed"
