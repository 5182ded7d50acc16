# Shards and merge (docs/cluster.md): four `ghx run --shard I/4` at once, each into its own cache,
# do disjoint work; `ghx cache merge` brings them together (idempotent, resumable after kill -9);
# `ghx run` on the merged cache computes only the aggregates and the report, and the report
# folder is byte-identical to a single host's. A shard run again redoes only its unfinished steps.
source "$(dirname "$0")/lib.inc"

"$GHX" run experiments/demo.toml --cache single --out ref --json >ref.json 2>/dev/null
total=$(json_field total "$(cat ref.json)")

for i in 1 2 3 4; do "$GHX" run experiments/demo.toml --cache "c$i" --shard "$i/4" --json >"s$i.json" 2>"e$i.txt" & done
wait
sum=0
for i in 1 2 3 4; do
  o=$(cat "s$i.json")
  expect_eq "$(json_field failed "$o")" 0 "shard $i failed steps"
  expect_eq "$(json_field executed "$o")" "$(json_field steps "$o")" "shard $i: executed = its steps"
  expect_eq "$(json_field report "$o")" null "shard $i writes no report"
  expect_eq "$(json_field left_to_merge "$o")" 5 "shard $i: aggregates and report left to the merge"
  share=$(json_field cost_of_share "$o")
  awk "BEGIN { exit !($share <= 1.5) }" || fail "shard $i: cost $share x its share"
  [ "$(sqlite3 "c$i/ghx.db" "select count(*) from steps where kind in ('aggregate', 'report')")" = 0 ] ||
    fail "shard $i ran an aggregate"
  sum=$((sum + $(sqlite3 "c$i/ghx.db" "select count(*) from steps where kind not in ('target_features', 'text_features')")))
done
[ ! -e reports ] || fail "a shard wrote a report folder"
# Disjoint and covering: every step but the shared inputs in exactly one shard.
shared=$(sqlite3 single/ghx.db "select count(*) from steps where kind in ('target_features', 'text_features')")
expect_eq "$sum" "$((total - 5 - shared))" "steps of the four shards, shared inputs aside"
for i in 1 2 3 4; do sqlite3 "c$i/ghx.db" "select key from steps where kind not in ('target_features', 'text_features')"; done |
  sort | uniq -d >dups.txt
[ ! -s dups.txt ] || fail "steps computed by two shards: $(head -3 dups.txt)"

# A shard that died part-way (here: rows of its last steps gone) redoes only those.
sqlite3 c3/ghx.db "delete from steps where key in (select key from steps where kind = 'metric' order by key limit 7)"
o=$("$GHX" run experiments/demo.toml --cache c3 --shard 3/4 --json 2>/dev/null)
expect_eq "$(json_field executed "$o")" 7 "shard 3 run again: executed"

# Merge, killed part-way, then run again: it resumes; the merged cache verifies clean.
"$GHX" cache merge --cache dest c1 c2 c3 c4 --json >/dev/null 2>&1 &
pid=$!
for _ in $(seq 500); do  # killed once its first transaction is in (256 rows), before its last
  n=$(sqlite3 dest/ghx.db "select count(*) from steps" 2>/dev/null || echo 0)
  [ "${n:-0}" -gt 0 ] && break
  sleep 0.01
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
before=$(sqlite3 dest/ghx.db "select count(*) from steps" 2>/dev/null || echo 0)
echo "merge killed after $before of $((total - 5)) rows"
o=$("$GHX" cache merge --cache dest c1 c2 c3 c4 --json)
expect_eq "$(( $(json_field copied "$o") + before ))" "$((total - 5))" "rows copied before and after the kill"
expect_eq "$(json_field present "$o")" "$before" "rows the killed merge had committed"
o=$("$GHX" cache merge --cache dest c4 c3 c2 c1 --json)
expect_eq "$(json_field copied "$o")" 0 "a second merge copies nothing"
"$GHX" cache verify --cache dest >/dev/null || fail "the merged cache does not verify"

o=$("$GHX" run experiments/demo.toml --cache dest --out merged --json 2>/dev/null)
expect_eq "$(json_field executed "$o")" 5 "steps run after the merge (aggregates and the report)"
diff -r ref merged >/dev/null || fail "merged report differs from one host's: $(diff -rq ref merged)"

# A deterministic step stored differently by two caches: a hard error, nothing merged.
cp -r c1 bad
k=$(sqlite3 bad/ghx.db "select key from steps where kind = 'target_features' limit 1")
other=$(sqlite3 bad/ghx.db "select blob from steps where kind = 'metric' limit 1")
sqlite3 bad/ghx.db "update steps set blob = '$other' where key = '$k'"
set +e
"$GHX" cache merge --cache dest2 c1 bad >out.txt 2>err.txt; rc=$?
set -e
expect_eq "$rc" 2 "exit code of a conflicting merge"
grep -q "nothing was merged" err.txt || fail "conflict message: $(cat err.txt)"
expect_eq "$(sqlite3 dest2/ghx.db 'select count(*) from steps')" 0 "rows merged despite the conflict"

# Bad arguments: exit 2, nothing done.
for bad in 0/4 5/4 x 1/0; do
  set +e
  "$GHX" run experiments/demo.toml --cache c9 --shard "$bad" >/dev/null 2>err.txt; rc=$?
  set -e
  expect_eq "$rc" 2 "--shard $bad"
done
[ ! -e c9 ] || fail "a bad --shard opened a cache"
set +e
"$GHX" cache merge --cache dest3 nowhere >/dev/null 2>err.txt; rc=$?
set -e
expect_eq "$rc" 2 "merge of a folder that is no cache"
grep -q "nowhere: not a ghx cache" err.txt || fail "message: $(cat err.txt)"
[ ! -e nowhere ] || fail "merge created its source"
echo ok
