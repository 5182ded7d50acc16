#!/usr/bin/env bash
# Planner benchmark: plan time, no-op re-run time and peak memory of ghx on a synthetic review of
# about 100k steps, side by side with ninja and snakemake on a DAG of the same shape
# (bench/make_review.py writes all three). Snakemake runs at 10k steps only (it needs seconds
# there); ghx and ninja run at both sizes for like-for-like lines.
#
# Usage: bench/plan_bench.sh [--steps N] [--snake-steps M] [--reps R] [--snake-reps R] [--million] [--keep]
# --million adds ghx alone at 1,000,000 steps (ninja would need a million touch processes to
# build its tree) and the per-step cost at 1M against the first size.
# Needs: cmake, ninja, snakemake, /usr/bin/time (bash scripts/setup.sh --bench); installs nothing.
# Writes: bench/out/plan_bench.md (the tables, also printed on stdout), bench/out/plan_bench.log;
#         the work trees under bench/out/work/ are removed at the end unless --keep.
# Each figure is the median of R runs: wall seconds and max RSS from /usr/bin/time.
set -euo pipefail

STEPS=100000
SNAKE_STEPS=10000
REPS=5
SNAKE_REPS=3
KEEP=0
MILLION=0
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) STEPS="$2"; shift 2 ;;
    --snake-steps) SNAKE_STEPS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --snake-reps) SNAKE_REPS="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --million) MILLION=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "plan_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
WORK="$OUT/work"
BUILD="$ROOT/build"
GHX="$BUILD/ghx"
FILL="$BUILD/ghx_bench_fill"
TIMES="$OUT/plan_bench.tsv"
LOG="$OUT/plan_bench.log"
MD="$OUT/plan_bench.md"

for tool in cmake ninja snakemake python3; do
  command -v "$tool" >/dev/null || { echo "plan_bench.sh: '$tool' not found: run 'bash scripts/setup.sh --bench'" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "plan_bench.sh: /usr/bin/time not found: run 'bash scripts/setup.sh --bench'" >&2; exit 2; }

mkdir -p "$OUT"
rm -rf "$WORK"
mkdir -p "$WORK"
: > "$TIMES"
: > "$LOG"
cleanup() { if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

say() { echo "[plan_bench] $*" | tee -a "$LOG" >&2; }

# ---- build ------------------------------------------------------------------------------------
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1
fi
say "building ghx and ghx_bench_fill"
ninja -C "$BUILD" -j2 ghx ghx_bench_fill >>"$LOG" 2>&1

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- measurement ------------------------------------------------------------------------------
# measure TOOL STEPS WHAT REPS PREP -- CMD...  (PREP: a shell function run, untimed, before each run)
# Appends "tool steps what run wall_s rss_kb" rows to $TIMES; the command's output goes to the log.
measure() {
  local tool="$1" steps="$2" what="$3" reps="$4" prep="$5"
  shift 6
  local r t0 t1 rss
  for r in $(seq 1 "$reps"); do
    [ "$prep" = - ] || "$prep"
    t0=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$WORK/time.out" "$@" >"$WORK/cmd.out" 2>&1 || {
      say "FAILED: $*"; cat "$WORK/cmd.out" >&2; exit 1; }
    t1=$(date +%s%N)
    rss=$(tail -1 "$WORK/time.out")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$steps" "$what" "$r" \
      "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')" "$rss" >>"$TIMES"
  done
  { echo "\$ $*"; tail -5 "$WORK/cmd.out"; } >>"$LOG"
  say "$tool $steps $what: last run $(tail -1 "$TIMES" | cut -f5) s, $(( $(tail -1 "$TIMES" | cut -f6) / 1024 )) MB"
}
json_is() {  # json_is FILE PYEXPR WHAT   (PYEXPR over j, the JSON document in FILE)
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" || {
    say "CHECK FAILED: $3 (wanted $2 in $1)"; tail -20 "$1" >&2; exit 1; }
}
expect() {  # expect FILE REGEX WHAT
  grep -Eq "$2" "$1" || { say "CHECK FAILED: $3 (wanted /$2/ in $1)"; tail -20 "$1" >&2; exit 1; }
}

# ---- ghx ----------------------------------------------------------------------------------------
bench_ghx() {  # bench_ghx DIR STEPS
  local dir="$1" steps="$2"
  local cache="$dir/cache"
  reset_cache() { rm -rf "$cache"; }
  measure ghx "$steps" "plan (empty cache, hashes files)" "$REPS" reset_cache -- \
    "$GHX" plan --json "$dir/review.toml" --cache "$cache"
  json_is "$WORK/cmd.out" "j['steps']['total'] == $steps and j['steps']['cached'] == 0" "ghx plans $steps steps"
  # the cache now holds the file-hash memo of the last run
  measure ghx "$steps" "plan (warm file-hash memo)" "$REPS" - -- \
    "$GHX" plan --json "$dir/review.toml" --cache "$cache"
  say "ghx $steps: filling the cache (untimed setup)"
  /usr/bin/time -f '%e s %M KB' "$FILL" "$dir/review.toml" "$cache" 2>&1 | tee -a "$LOG" | sed 's/^/  /' >&2
  measure ghx "$steps" "plan (everything cached)" "$REPS" - -- \
    "$GHX" plan --json "$dir/review.toml" --cache "$cache"
  json_is "$WORK/cmd.out" "j['steps']['total'] == $steps and j['steps']['cached'] == $steps" "ghx plan finds all $steps cached"
  # the first run renders the report (the cache holds placeholders) and records the run; the
  # rest take the shortcut of a run with nothing new (run/run.h unchanged_run)
  measure ghx "$steps" "no-op run" "$REPS" - -- \
    "$GHX" run "$dir/review.toml" --cache "$cache" --json --out "$dir/report"
  json_is "$WORK/cmd.out" "j['executed'] == 0 and j['cached'] == $steps and j['total'] == $steps and j['report'] and not j['planned']" \
    "ghx no-op run executes nothing, has its report and takes the shortcut"
  measure ghx "$steps" "no-op run, planned (GHX_RUN_SHORTCUT=0)" "$REPS" - -- \
    env GHX_RUN_SHORTCUT=0 "$GHX" run "$dir/review.toml" --cache "$cache" --json --out "$dir/report"
  json_is "$WORK/cmd.out" "j['executed'] == 0 and j['cached'] == $steps and j['planned']" \
    "ghx planned no-op run plans, finds every step cached and executes nothing"
}

# ---- ninja --------------------------------------------------------------------------------------
bench_ninja() {  # bench_ninja DIR STEPS
  local dir="$1" steps="$2"
  measure ninja "$steps" "plan (ninja -n, nothing built)" "$REPS" - -- ninja -C "$dir" -n
  expect "$WORK/cmd.out" "\[$steps/$steps\]" "ninja plans $steps edges"
  say "ninja $steps: building (untimed setup: $steps touch processes)"
  /usr/bin/time -f '%e s %M KB' ninja -C "$dir" -j2 >"$WORK/build.out" 2>&1
  tail -1 "$WORK/build.out" | tee -a "$LOG" | sed 's/^/  /' >&2
  measure ninja "$steps" "plan (ninja -n, all built)" "$REPS" - -- ninja -C "$dir" -n
  measure ninja "$steps" "no-op run" "$REPS" - -- ninja -C "$dir"
  expect "$WORK/cmd.out" "no work to do" "ninja no-op"
}

# ---- snakemake ----------------------------------------------------------------------------------
bench_snakemake() {  # bench_snakemake DIR STEPS
  local dir="$1" steps="$2"
  measure snakemake "$steps" "plan (snakemake -n, nothing built)" "$SNAKE_REPS" - -- \
    snakemake -d "$dir" -s "$dir/Snakefile" -n --cores 1
  expect "$WORK/cmd.out" "^total +$steps " "snakemake plans $steps jobs"
  say "snakemake $steps: building (untimed setup)"
  # greedy scheduler: the default ILP one ran ~10 jobs/s here (~17 min for 10k jobs on 2 cores)
  /usr/bin/time -f '%e s %M KB' snakemake -d "$dir" -s "$dir/Snakefile" --cores 2 --quiet --scheduler greedy \
    >"$WORK/build.out" 2>&1 || {
    tail -20 "$WORK/build.out" >&2; exit 1; }
  tail -1 "$WORK/build.out" | tee -a "$LOG" | sed 's/^/  /' >&2
  measure snakemake "$steps" "no-op run" "$SNAKE_REPS" - -- \
    snakemake -d "$dir" -s "$dir/Snakefile" --cores 1
  expect "$WORK/cmd.out" "Nothing to be done" "snakemake no-op"
}

make_tree() {  # make_tree STEPS DIR -> prints the exact step count
  python3 "$ROOT/bench/make_review.py" "$1" "$2" >>"$LOG"
  "$GHX" models tiny "$2/models" >>"$LOG"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"])' "$2/shape.json"
}

say "generating the reviews ($STEPS and $SNAKE_STEPS steps)"
BIG_STEPS=$(make_tree "$STEPS" "$WORK/big/ghx")
SMALL_STEPS=$(make_tree "$SNAKE_STEPS" "$WORK/small/ghx")
# ninja and snakemake each get their own copy of the DAG (they write their outputs next to it)
for d in big small; do
  mkdir -p "$WORK/$d/ninja" "$WORK/$d/snakemake"
  cp "$WORK/$d/ghx/build.ninja" "$WORK/$d/ninja/"
  cp "$WORK/$d/ghx/Snakefile" "$WORK/$d/snakemake/"
done

# the fixed cost of starting ghx (shared libraries and their static initialisers), for reference
measure ghx 0 "startup (ghx --version)" "$REPS" - -- "$GHX" --version
bench_ghx "$WORK/big/ghx" "$BIG_STEPS"
bench_ninja "$WORK/big/ninja" "$BIG_STEPS"
bench_ghx "$WORK/small/ghx" "$SMALL_STEPS"
bench_ninja "$WORK/small/ninja" "$SMALL_STEPS"
bench_snakemake "$WORK/small/snakemake" "$SMALL_STEPS"
if [ "$MILLION" = 1 ]; then
  say "generating the review of 1,000,000 steps"
  HUGE_STEPS=$(make_tree 1000000 "$WORK/huge/ghx")
  bench_ghx "$WORK/huge/ghx" "$HUGE_STEPS"
fi

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- tables -------------------------------------------------------------------------------------
python3 - "$TIMES" "$MD" <<EOF
import collections, statistics, sys
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    tool, steps, what, run, wall, rss = line.rstrip("\n").split("\t")
    rows.setdefault((tool, int(steps), what), []).append((float(wall), int(rss)))

def med(key, i):
    v = rows.get(key)
    return statistics.median(x[i] for x in v) if v else None

out = []
out.append("| tool | steps | plan s | no-op s | no-op, planned s | peak MB |")
out.append("|---|---:|---:|---:|---:|---:|")
plan_of = {"ghx": "plan (empty cache, hashes files)", "ninja": "plan (ninja -n, nothing built)",
           "snakemake": "plan (snakemake -n, nothing built)"}
seen = []
for (tool, steps, what) in rows:
    if (tool, steps) not in seen and (tool, steps, plan_of[tool]) in rows:
        seen.append((tool, steps))
for tool, steps in sorted(seen, key=lambda ts: (-ts[1], ["ghx", "ninja", "snakemake"].index(ts[0]))):
    p, n = (tool, steps, plan_of[tool]), (tool, steps, "no-op run")
    q = (tool, steps, "no-op run, planned (GHX_RUN_SHORTCUT=0)")
    peak = max(med(p, 1) or 0, med(n, 1) or 0, med(q, 1) or 0) / 1024
    planned = f"{med(q, 0):.2f}" if q in rows else "-"
    out.append(f"| {tool} | {steps} | {med(p, 0):.2f} | {med(n, 0):.2f} | {planned} | {peak:.0f} |")
out.append("")
# Linearity: ghx's cost per step at its largest size against its first (medians).
sizes = sorted({st for (t, st, w) in rows if t == "ghx" and st > 0})
if len(sizes) >= 2 and sizes[-1] >= 10 * sizes[0]:
    lo, hi = sizes[-2] if len(sizes) > 2 else sizes[0], sizes[-1]
    for what in ("plan (empty cache, hashes files)", "no-op run, planned (GHX_RUN_SHORTCUT=0)"):
        a, b = med(("ghx", lo, what), 0), med(("ghx", hi, what), 0)
        if a and b:
            out.append(f"ghx {what}: {a / lo * 1e6:.2f} us/step at {lo} steps, {b / hi * 1e6:.2f} us/step at {hi}: "
                       f"{(b / hi) / (a / lo):.2f}x")
    out.append("")
out.append("Every measurement (wall seconds and max RSS over the runs; median, min and max):")
out.append("")
out.append("| tool | steps | what | runs | median s | min s | max s | median MB |")
out.append("|---|---:|---|---:|---:|---:|---:|---:|")
for (tool, steps, what), v in rows.items():
    w = [x[0] for x in v]
    out.append(f"| {tool} | {steps} | {what} | {len(v)} | {statistics.median(w):.3f} | {min(w):.3f} | {max(w):.3f} | "
               f"{statistics.median(x[1] for x in v) / 1024:.0f} |")
out.append("")
out.append("Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); "
           "load average before $LOAD_BEFORE, after $LOAD_AFTER. "
           "$("$GHX" --version); ninja $(ninja --version); snakemake $(snakemake --version). "
           "Command: \`bench/plan_bench.sh --steps $STEPS --snake-steps $SNAKE_STEPS --reps $REPS --snake-reps $SNAKE_REPS$( [ "$MILLION" = 1 ] && echo ' --million' || true)\`.")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text, end="")
EOF
say "tables written to $MD"
