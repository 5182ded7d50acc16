# ghx stats: per-image scores from elsewhere, the review's statistics, a report folder.
source "$(dirname "$0")/lib.inc"

# 3 checkpoints x 12 prompts x 3 seeds; "good" is well ahead on aesthetic and lower on my_loss
awk 'BEGIN {
  print "checkpoint,prompt,seed,metric,value,extra";
  srand(7);
  split("good mid low", ck, " ");
  for (p = 1; p <= 12; p++) { pe = rand();
    for (c = 1; c <= 3; c++) for (s = 1; s <= 3; s++) {
      base = (c == 1 ? 2 : 0) + pe + 0.3 * rand();
      printf "%s,p%d,%d,aesthetic,%.4f,z\n", ck[c], p, s, base;
      printf "%s,p%d,%d,my_loss,%.4f,z\n", ck[c], p, s, 5 - base;
    } } }' > scores.csv

out=$("$GHX" stats scores.csv --lower-better my_loss --bootstrap 500 --json)
expect_eq "$(printf '%s' "$out" | tr -d ' \n' | grep -o '"name":"[a-z]*"' | head -1)" '"name":"good"' "rank 1"
printf '%s' "$out" | tr -d '\n' | grep >/dev/null '"verdict": "beyond noise"' || fail "good is beyond noise: $out"
expect_eq "$(json_field bootstrap "$out")" 500 "bootstrap"
printf '%s' "$out" | grep >/dev/null '"my_loss": "lower"' || fail "my_loss is lower-is-better"

# One value per use (#16): the table after --lower-better stays the table; the option repeats.
out3=$("$GHX" stats --lower-better my_loss scores.csv --bootstrap 500 --json)
expect_eq "$out3" "$out" "--lower-better before the table"
out4=$("$GHX" stats --lower-better my_loss --lower-better aesthetic scores.csv --bootstrap 500 --json)
printf '%s' "$out4" | grep >/dev/null '"aesthetic": "lower"' || fail "--lower-better repeats"
printf '%s' "$out4" | grep >/dev/null '"my_loss": "lower"' || fail "--lower-better repeats (first)"

# Without --lower-better my_loss, the better loss counts against good: no clear winner.
out2=$("$GHX" stats scores.csv --bootstrap 500 --json)
printf '%s' "$out2" | grep >/dev/null '"my_loss": "higher"' || fail "my_loss defaults to higher"

# The human summary and a report folder
"$GHX" stats scores.csv --lower-better my_loss --out rep > human.txt
grep -q '^  1\. good' human.txt || fail "human ranking: $(cat human.txt)"
grep -q 'beyond noise' human.txt || fail "human verdicts: $(cat human.txt)"
for f in report.md report.html results.json results.csv; do [ -s "rep/$f" ] || fail "rep/$f missing"; done
grep -q 'Are adjacent ranks apart beyond noise' rep/report.md || fail "report.md has the verdicts"
grep -q 'my_loss (lower is better)' rep/report.html || fail "the chart follows --lower-better"

# Bad input: exit 2, positioned messages, nothing written
printf 'checkpoint,prompt,seed,metric,value\nA,p,1,m,1\nA,p,1,m,2\n' > dup.csv
set +e
err=$("$GHX" stats dup.csv --out rep_dup 2>&1 >/dev/null); rc=$?
set -e
expect_eq "$rc" 2 "duplicate row"
printf '%s' "$err" | grep -F >/dev/null "dup.csv:3:1: error: duplicate of line 2" || fail "duplicate message: $err"
[ ! -e rep_dup ] || fail "a report was written for bad input"
for args in "--bootstrap 50" "--ci 1.5" "--lower-better nosuch" "absent.csv"; do
  set +e
  f=scores.csv; [ "$args" = absent.csv ] && f=""
  "$GHX" stats $f $args >/dev/null 2>err.txt; rc=$?
  set -e
  expect_eq "$rc" 2 "ghx stats $args"
  [ -s err.txt ] || fail "ghx stats $args: no message"
done
echo "stats: ok"
