# Crash testing in SQLite's manner (docs/reliability.md): kill -9 at 50+ random moments spread
# over generation, scoring, aggregation, report writing, `ghx bundle` and `ghx cache gc`. After
# each: `ghx cache verify` is clean, the next run redoes no finished step, the final report is
# byte-identical to an uninterrupted run's, and no half-written bundle or report is at its path.
# The delays are drawn from a fixed seed (GHX_CRASH_SEED); where each kill landed is counted.
source "$(dirname "$0")/lib.inc"

RANDOM=${GHX_CRASH_SEED:-2026}
# How many kills each phase needs: 34 of `ghx run`, 8 each of report writing, bundle and gc
# (58 in all). The sanitized suite (CMakePresets.json "asan", 3-5x slower) runs a short form.
run_kills=${GHX_CRASH_RUN_KILLS:-34}
other_kills=${GHX_CRASH_OTHER_KILLS:-8}
ms() { date +%s%3N; }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
plan=$("$GHX" plan experiments/demo.toml --json | tr -d ' \n')
total=$(json_field total "$plan")
gen_total=$(printf '%s' "$plan" | grep -o '"generate":{[^}]*}' | grep -o '"total":[0-9]*' | cut -d: -f2)
# The reference run is watched: when its database appears and when the last image is in bound
# the generation window, which every third try aims at (generation is a small part of the run on
# the tiny models, and a smaller one under the sanitizers, so uniform delays can miss it).
t0=$(ms)
"$GHX" run experiments/demo.toml --cache ref-cache --out ref >/dev/null 2>&1 &
ref_pid=$!
db_ms=0 gen_ms=0
while kill -0 "$ref_pid" 2>/dev/null; do
  if [ "$db_ms" = 0 ] && [ -e ref-cache/ghx.db ]; then db_ms=$(( $(ms) - t0 )); fi
  if [ "$db_ms" != 0 ] && [ "$gen_ms" = 0 ]; then
    g=$(sqlite3 ref-cache/ghx.db "select count(*) from steps where status=0 and kind='generate'" 2>/dev/null || echo 0)
    if [ "${g:-0}" -ge "$gen_total" ]; then gen_ms=$(( $(ms) - t0 )); fi
  fi
  sleep 0.02
done
wait "$ref_pid" || fail "the reference run failed"
run_ms=$(( $(ms) - t0 ))
[ "$gen_ms" != 0 ] || gen_ms=$run_ms
echo "reference run: ${run_ms} ms, database at ${db_ms} ms, generation done at ${gen_ms} ms"
declare -A landed=()
kills=0

# Where a kill of `ghx run` landed, read from what the cache holds.
phase() {
  local gen done_steps agg rep
  gen=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0 and kind='generate'" 2>/dev/null || echo 0)
  done_steps=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0" 2>/dev/null || echo 0)
  agg=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0 and kind='aggregate'" 2>/dev/null || echo 0)
  rep=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0 and kind='report'" 2>/dev/null || echo 0)
  if [ ! -e cache/ghx.db ]; then echo startup
  elif [ "${gen:-0}" -lt "$gen_total" ]; then echo generation
  elif [ "${agg:-0}" = 0 ]; then echo scoring
  elif [ "${rep:-0}" = 0 ]; then echo aggregation
  else echo report; fi
}
kill_after() {  # kill_after MS PID: kill -9 unless it ended; 1 if it had ended
  sleep_ms "$1"
  if kill -9 "$2" 2>/dev/null; then wait "$2" 2>/dev/null || true; return 0; fi
  wait "$2" 2>/dev/null || true
  return 1
}
check_cache() {
  local out
  [ -e cache/ghx.db ] || return 0  # killed before it made one
  out=$("$GHX" cache verify --json 2>/dev/null)
  expect_eq "$(json_field bad "$out")" "[]" "bad cache entries after kill $kills ($1)"
}

# 1. Runs from an empty cache, killed anywhere in their course; then resumed to the end.
# Tries until 34 kills have landed, one of them in generation (at most 80 tries, and 10 more
# for generation: a try ends unkilled when the run was faster than the reference run timed
# above). A try's generation can end before the reference's did (the reference shares the
# machine with other tests, and its end is seen by polling), so the tries that aim at it take
# the first half of its window, and aim again while no kill has landed there.
landed_in() { echo "${landed[$1]:-0}"; }
tries=0
while { [ "$kills" -lt "$run_kills" ] || [ "$(landed_in generation)" = 0 ]; } &&
      [ "$tries" -lt $((run_kills * 80 / 34 + 10)) ]; do
  tries=$((tries + 1))
  rm -rf cache reports
  "$GHX" run experiments/demo.toml >/dev/null 2>&1 &
  pid=$!
  if [ $((tries % 3)) = 1 ] || { [ "$kills" -ge "$run_kills" ] && [ "$(landed_in generation)" = 0 ]; }; then
    delay=$(( db_ms + RANDOM % ((gen_ms - db_ms) / 2 + 1) ))
  else delay=$(( RANDOM % (run_ms + 1) )); fi
  kill_after "$delay" "$pid" || { landed[finished]=$(( ${landed[finished]:-0} + 1 )); continue; }
  kills=$((kills + 1))
  p=$(phase)
  landed[$p]=$(( ${landed[$p]:-0} + 1 ))
  check_cache "run, $p"
  for r in reports/*; do  # a report folder that exists is a whole one
    [ -e "$r" ] || continue
    case "$(basename "$r")" in .*) continue ;; esac
    diff -r ref "$r" >/dev/null || fail "a half-written report folder at $r after kill $kills"
  done
  kept=$(sqlite3 cache/ghx.db "select count(*) from steps where status=0" 2>/dev/null || echo 0)
  out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
  expect_eq "$(json_field executed "$out")" "$((total - kept))" "steps run after kill $kills ($p; $kept were done)"
  diff -r ref reports/demo-v1 >/dev/null || { diff -r ref reports/demo-v1 | head -20 >&2; fail "the report after kill $kills ($p) differs from an uninterrupted run's"; }
done

# Phases 2-4: 8 kills each, at most 24 tries.

# 2. Report writing: every step is cached, the run only writes the folder (over an old one). A
# file touched in the folder makes its stamp stale, so the run rewrites it (else a run with
# nothing new leaves it as it is and ends in milliseconds).
tries=0
while [ "$(landed_in report_folder)" -lt "$other_kills" ] && [ "$tries" -lt $((other_kills * 3)) ]; do
  tries=$((tries + 1))
  touch reports/demo-v1/report.md
  "$GHX" run experiments/demo.toml >/dev/null 2>&1 &
  pid=$!
  kill_after $(( RANDOM % 250 )) "$pid" || { landed[finished]=$(( ${landed[finished]:-0} + 1 )); continue; }
  kills=$((kills + 1)); landed[report_folder]=$(( ${landed[report_folder]:-0} + 1 ))
  diff -r ref reports/demo-v1 >/dev/null || fail "kill $kills left a mixed report folder"
  check_cache "report folder"
done
"$GHX" run experiments/demo.toml >/dev/null 2>&1
ls -a reports | grep -v '^\.\{1,2\}$' >left.txt
expect_eq "$(cat left.txt)" "demo-v1" "report folders after the kills (temporary ones swept)"

# 3. ghx bundle: the bundle path holds a whole bundle or nothing.
tries=0
while [ "$(landed_in bundle)" -lt "$other_kills" ] && [ "$tries" -lt $((other_kills * 3)) ]; do
  tries=$((tries + 1))
  rm -f b.tar
  "$GHX" bundle experiments/demo.toml -o b.tar --with-images >/dev/null 2>&1 &
  pid=$!
  kill_after $(( RANDOM % 700 )) "$pid" || { landed[finished]=$(( ${landed[finished]:-0} + 1 )); continue; }
  kills=$((kills + 1)); landed[bundle]=$(( ${landed[bundle]:-0} + 1 ))
  if [ -e b.tar ]; then "$GHX" verify b.tar >/dev/null 2>&1 || fail "kill $kills left a broken bundle at its path"; fi
done

# 4. ghx cache gc with garbage to remove (rows dropped: their blobs are orphans).
tries=0
while [ "$(landed_in gc)" -lt "$other_kills" ] && [ "$tries" -lt $((other_kills * 3)) ]; do
  tries=$((tries + 1))
  sqlite3 cache/ghx.db "delete from steps where key in (select key from steps where kind='metric' limit 20)"
  "$GHX" cache gc >/dev/null 2>&1 &
  pid=$!
  if kill_after $(( RANDOM % 40 )) "$pid"; then
    kills=$((kills + 1)); landed[gc]=$(( ${landed[gc]:-0} + 1 ))
  else
    landed[finished]=$(( ${landed[finished]:-0} + 1 ))
  fi
  check_cache "gc"
  out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
  expect_eq "$(json_field executed "$out")" 20 "steps run after gc kill $kills"
  diff -r ref reports/demo-v1 >/dev/null || fail "the report after gc kill $kills differs"
done

summary=""
for k in startup generation scoring aggregation report report_folder bundle gc finished; do summary="$summary $k=${landed[$k]:-0}"; done
echo "kills: $kills ($summary )"
want=$(( (run_kills + 3 * other_kills) * 50 / 58 ))
[ "$kills" -ge "$want" ] || fail "only $kills kills landed ($want wanted)"
for k in generation scoring report_folder bundle gc; do
  [ "${landed[$k]:-0}" -gt 0 ] || fail "no kill landed in $k"
done
echo "1 passed, 0 failed"
