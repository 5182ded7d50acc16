# A run with nothing new leaves the report folder as it is (docs/architecture.md, "Steps"): no
# file is rewritten. A file of the folder edited or removed, or a change to the review that the
# folder shows, makes the next run write the folder again, whole and right.
source "$(dirname "$0")/lib.inc"

snapshot() { (cd "$1" && find . -type f -printf '%p %s %T@ %i\n' | sort); }
"$GHX" run experiments/demo.toml --out rep --json >/dev/null 2>&1
cp -r rep ref
before=$(snapshot rep)
o=$("$GHX" run experiments/demo.toml --out rep --json 2>/dev/null)
expect_eq "$(json_field executed "$o")" 0 "steps run the second time"
expect_eq "$(json_field report "$o")" '"rep"' "the report folder named"
expect_eq "$(snapshot rep)" "$before" "files, sizes, mtimes and inodes after a run with nothing new"

# A thumbnail removed, report.html edited: written again, the same bytes as before.
thumb=$(cd rep && find thumbs -type f | sort | sed -n 1p)
rm "rep/$thumb"
echo "my note" >>rep/report.html
"$GHX" run experiments/demo.toml --out rep >/dev/null 2>&1
diff -r ref rep >/dev/null || fail "the folder after repair differs: $(diff -rq ref rep)"
[ "$(snapshot rep)" != "$before" ] || fail "the folder was not written again"

# The review's description changed: no step changes, but the folder shows it (review.json).
sed -i 's/^description = .*/description = "another description"/' experiments/demo.toml
o=$("$GHX" run experiments/demo.toml --out rep --json 2>/dev/null)
expect_eq "$(json_field executed "$o")" 0 "steps run after a description change"
grep -q "another description" rep/review.json || fail "review.json does not show the new description"

# Another folder is written; the first keeps its stamp.
"$GHX" run experiments/demo.toml --out rep2 >/dev/null 2>&1
diff -r rep rep2 >/dev/null || fail "two folders of one review differ: $(diff -rq rep rep2)"
now=$(snapshot rep)
"$GHX" run experiments/demo.toml --out rep >/dev/null 2>&1
expect_eq "$(snapshot rep)" "$now" "the first folder, left as it is"
echo ok
