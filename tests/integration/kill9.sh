# kill -9 in the middle of a run: no corrupt entry, finished steps are not redone.
source "$(dirname "$0")/lib.inc"

sed -i 's/^n_iter = 2/n_iter = 10/; s/^width = 96/width = 128/; s/^height = 96/height = 128/' experiments/demo.toml
total=$(json_field total "$("$GHX" plan experiments/demo.toml --json | tr -d ' \n')")
"$GHX" run experiments/demo.toml >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  done_now=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0" 2>/dev/null || echo 0)
  [ "${done_now:-0}" -ge 100 ] && break
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null || fail "the run finished before it could be killed"
wait "$pid" 2>/dev/null || true
out=$("$GHX" cache verify --json)
expect_eq "$(json_field bad "$out")" "[]" "bad entries after kill -9"
before=$(json_field checked "$out")
[ "$before" -ge 100 ] || fail "only $before steps were done at the kill"
out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field cached "$out")" "$before" "steps kept"
expect_eq "$(json_field executed "$out")" "$((total - before))" "steps redone"
echo "1 passed, 0 failed"
