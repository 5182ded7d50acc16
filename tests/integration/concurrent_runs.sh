# Cooperating runs (docs/reliability.md): four `ghx run` of one review on one cache at once
# compute each step once between them and write the report a single run writes, byte for byte.
# Then runs overlap with a kill -9 and with `ghx cache gc`: the survivors take over the dead
# run's claims, gc removes nothing a run needs, and the cache verifies clean.
source "$(dirname "$0")/lib.inc"

"$GHX" run experiments/demo.toml --cache ref-cache --out ref --json >ref.json 2>/dev/null
total=$(json_field total "$(cat ref.json)")

for i in 1 2 3 4; do "$GHX" run experiments/demo.toml --json >"out$i.json" 2>"err$i.txt" & done
wait
executed=0
for i in 1 2 3 4; do
  o=$(cat "out$i.json")
  expect_eq "$(json_field failed "$o")" 0 "run $i failed steps"
  e=$(json_field executed "$o"); c=$(json_field cached "$o"); x=$(json_field elsewhere "$o")
  expect_eq "$((e + c + x))" "$total" "run $i: executed + cached + stored by others"
  executed=$((executed + e))
done
expect_eq "$executed" "$total" "computations by four runs of $total steps"
diff -r ref reports/demo-v1 >/dev/null || fail "the report of four runs differs from one run's: $(diff -rq ref reports/demo-v1)"
expect_eq "$(sqlite3 cache/ghx.db 'select count(*) from claims') $(sqlite3 cache/ghx.db 'select count(*) from runs')" "0 0" \
  "claims and runs left behind"
ls -a reports | grep -v '^\.\{1,2\}$' >left.txt
expect_eq "$(cat left.txt)" "demo-v1" "report folders (no temporary folder left)"

# A larger review: three runs, one killed mid-way, gc running over and over meanwhile.
sed -i 's/^n_iter = 2/n_iter = 8/' experiments/demo.toml
"$GHX" run experiments/demo.toml --cache ref-cache --out ref8 --json >/dev/null 2>&1
rm -rf cache reports
for i in 1 2 3; do "$GHX" run experiments/demo.toml --json >"big$i.json" 2>"bigerr$i.txt" & eval "pid$i=$!"; done
for _ in $(seq 1 200); do [ -e cache/ghx.db ] && break; sleep 0.02; done  # gc needs the cache to exist
( for _ in $(seq 1 40); do "$GHX" cache gc --json >>gc.json 2>&1 || echo "gc failed" >>gc.json; sleep 0.05; done ) &
gcpid=$!
for _ in $(seq 1 200); do
  n=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 150 ] && break
  sleep 0.05
done
kill -9 "$pid1" 2>/dev/null || fail "run 1 finished before it could be killed"
set +e
wait "$pid1"
wait "$pid2"; rc2=$?
wait "$pid3"; rc3=$?
wait "$gcpid"
set -e
expect_eq "$rc2 $rc3" "0 0" "exit codes of the runs that survived"
grep "gc failed" gc.json >/dev/null && fail "gc failed during the runs: $(cat gc.json)"
out=$("$GHX" cache verify --json)
expect_eq "$(json_field bad "$out")" "[]" "bad entries after kill -9 and gc during runs"
diff -r ref8 reports/demo-v1 >/dev/null || fail "the report after kill -9 and gc differs from one run's"
out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field executed "$out")" 0 "steps redone after the runs ended"
diff -r ref8 reports/demo-v1 >/dev/null || fail "the re-run's report differs from one run's"
echo "1 passed, 0 failed"
