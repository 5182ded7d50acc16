#!/usr/bin/env bash
# Scale-out benchmark (docs/cluster.md): the demo review made larger (--images N per prompt),
# run on one host, then as 4 shards at once, each into its own cache; the merge (steps/s, MB/s);
# the run after the merge (aggregates and report); and a host with an empty cache fetching the
# whole review from an nginx remote cache (the cost of a hit). Whole-process wall seconds from
# /usr/bin/time; each figure the median of --reps runs. On one machine the 4 shards share its
# cores: the figure for 4 hosts is the slowest shard run alone, plus the merge and the final run.
#
# Usage: bench/cluster_bench.sh [--images N] [--reps R]
# Needs: a build (scripts/build.sh), nginx (scripts/setup.sh --test), /usr/bin/time.
# Writes: bench/out/cluster_bench.md (also printed).
set -euo pipefail
IMAGES=16
REPS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --images) IMAGES="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "cluster_bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
ROOT=$(pwd)
GHX="$ROOT/build/ghx"
[ -x "$GHX" ] || { echo "build first: bash scripts/build.sh" >&2; exit 2; }
mkdir -p bench/out
W=$(mktemp -d)
ngx_pid=""
trap '[ -n "$ngx_pid" ] && kill $ngx_pid 2>/dev/null; rm -rf "$W"' EXIT
cp -r experiments suites "$W/"
cd "$W"
"$GHX" models tiny models/tiny >/dev/null
# batch_size 2: n_iter = IMAGES / 2.
sed -i "s/^n_iter = 2/n_iter = $((IMAGES / 2))/" experiments/demo.toml
E=experiments/demo.toml

wall() { /usr/bin/time -f %e -o "$W/t" "$@" >/dev/null 2>&1; cat "$W/t"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

single=() shards=() slowest=() merge=() after=() fetch=()
steps=0 bytes=0 hit_ms=0
for r in $(seq "$REPS"); do
  rm -rf c* dest rep* single-cache
  single+=("$(wall "$GHX" run $E --cache single-cache --out rep1)")
  t0=$(date +%s.%N)
  for i in 1 2 3 4; do "$GHX" run $E --cache "c$i" --shard "$i/4" >/dev/null 2>&1 & done
  wait
  shards+=("$(echo "scale=2; ($(date +%s.%N) - $t0) / 1" | bc)")
  # The slowest shard alone (what one of 4 hosts would take): rerun each into a fresh cache.
  worst=0
  for i in 1 2 3 4; do
    t=$(wall "$GHX" run $E --cache "solo$i" --shard "$i/4")
    worst=$(echo "if ($t > $worst) $t else $worst" | bc)
  done
  rm -rf solo*
  slowest+=("$worst")
  merge+=("$(wall "$GHX" cache merge --cache dest c1 c2 c3 c4)")
  m=$("$GHX" cache merge --cache dest-json c1 c2 c3 c4 --json 2>/dev/null)
  steps=$(printf '%s' "$m" | sed -n 's/.*"copied":\([0-9]*\).*/\1/p')
  bytes=$(printf '%s' "$m" | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p')
  rm -rf dest-json
  after+=("$(wall "$GHX" run $E --cache dest --out rep2)")
  cmp rep1/report.html rep2/report.html || { echo "merged report differs" >&2; exit 1; }
done

# Remote cache: nginx with WebDAV on loopback; one host fills it, another fetches everything.
if command -v nginx >/dev/null 2>&1; then
  source "$ROOT/scripts/nginx-cache.inc"
  nginx_cache_start "$W" $((30000 + ($$ % 20000)))
  ngx_pid=$NGINX_CACHE_PID
  R=$NGINX_CACHE_URL
  "$GHX" run $E --cache filler --remote "$R" --out rep3 >/dev/null 2>&1
  for r in $(seq "$REPS"); do
    rm -rf fetcher
    fetch+=("$(wall "$GHX" run $E --cache fetcher --remote "$R" --out rep4)")
    o=$("$GHX" run $E --cache fetcher2 --remote "$R" --out rep5 --json 2>/dev/null)
    rm -rf fetcher2
    hits=$(printf '%s' "$o" | sed -n 's/.*"hits":\([0-9]*\).*/\1/p')
    ls=$(printf '%s' "$o" | sed -n 's/.*"lookup_s":\([0-9.e-]*\).*/\1/p')
    hit_ms=$(echo "scale=3; 1000 * $ls / $hits" | bc)
  done
fi

S=$(printf '%s\n' "${single[@]}" | median)
P=$(printf '%s\n' "${shards[@]}" | median)
L=$(printf '%s\n' "${slowest[@]}" | median)
M=$(printf '%s\n' "${merge[@]}" | median)
A=$(printf '%s\n' "${after[@]}" | median)
total=$(( $(sqlite3 single-cache/ghx.db "select count(*) from steps") ))
{
  echo "# Scale-out bench: demo review with $IMAGES images per prompt ($total steps), $(nproc) cores, median of $REPS"
  echo
  echo "| what | wall s |"
  echo "|---|---|"
  echo "| one host, whole review | $S |"
  echo "| 4 shards at once on this machine (sharing its $(nproc) cores) | $P |"
  echo "| slowest shard alone (one of 4 hosts) | $L |"
  echo "| merge of the 4 caches: $steps steps, $(echo "scale=1; $bytes / 1000000" | bc) MB | $M ($(echo "scale=0; $steps / $M" | bc) steps/s, $(echo "scale=1; $bytes / 1000000 / $M" | bc) MB/s) |"
  echo "| run after the merge (aggregates, report) | $A |"
  echo "| 4 hosts: slowest shard + merge + final run | $(echo "$L + $M + $A" | bc) |"
  if [ ${#fetch[@]} -gt 0 ]; then
    F=$(printf '%s\n' "${fetch[@]}" | median)
    echo "| a host with an empty cache, all from the nginx remote cache | $F ($hit_ms ms per hit: record + bytes + local store) |"
  fi
} | tee "$ROOT/bench/out/cluster_bench.md"
