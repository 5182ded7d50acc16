# Ctrl-C (SIGINT) and SIGTERM during a run: the steps in flight are committed, exit 130, the
# cache is consistent, and the next run continues where it stopped.
source "$(dirname "$0")/lib.inc"

sed -i 's/^n_iter = 2/n_iter = 10/; s/^width = 96/width = 128/; s/^height = 96/height = 128/' experiments/demo.toml
total=$(json_field total "$("$GHX" plan experiments/demo.toml --json)")
for sig in INT TERM; do
  rm -rf cache
  "$GHX" run experiments/demo.toml >/dev/null 2>err.txt &
  pid=$!
  for _ in $(seq 1 200); do
    n=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0" 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 50 ] && break
    sleep 0.1
  done
  kill -"$sig" "$pid" 2>/dev/null || fail "the run finished before SIG$sig"
  set +e
  wait "$pid"; rc=$?
  set -e
  expect_eq "$rc" 130 "exit code after SIG$sig"
  grep -q "interrupted" err.txt || fail "no interruption message: $(cat err.txt)"
  out=$("$GHX" cache verify --json)
  expect_eq "$(json_field bad "$out")" "[]" "bad entries after SIG$sig"
  kept=$(json_field checked "$out")
  [ "$kept" -lt "$total" ] || fail "SIG$sig did not stop the run"
  out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
  expect_eq "$(json_field cached "$out")" "$kept" "steps kept after SIG$sig"
  expect_eq "$(json_field executed "$out")" "$((total - kept))" "steps run after SIG$sig"
done
echo "1 passed, 0 failed"
