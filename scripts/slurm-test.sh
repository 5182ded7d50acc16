#!/usr/bin/env bash
# A real Slurm run of a sharded review (docs/cluster.md), on this machine alone:
#
#   bash scripts/slurm-test.sh OUT
#
# Installs slurm-wlm and munge from Debian if missing; writes a single-node slurm.conf into a
# temporary folder (slurmctld and slurmd on 127.0.0.1, as root, proctrack/linuxproc, task/none);
# starts munged, slurmctld and slurmd there; submits experiments/demo.toml as a job array of 4
# shards (scripts/ghx-array.sbatch, the script users copy), cancels one task (scancel) and
# resubmits it alone, then the merge (scripts/ghx-merge.sbatch) with --dependency=afterok,
# waits with `sbatch --wait`, stops the daemons it started (by pid), and exits 0 only if
# OUT/report.html (and the whole report folder) is byte-identical to a single-host run.
# Polls Slurm no faster than every 3 seconds. Needs root (the daemons run as root).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 2; }
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
[ "$(id -u)" = 0 ] || { echo "slurm-test: needs root (slurmd and munged run as root here)" >&2; exit 2; }

missing=()
for b in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge mungekey:munge; do
  command -v "${b%%:*}" >/dev/null 2>&1 || missing+=("${b#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "slurm-test: installing slurm-wlm munge" >&2
  bash scripts/setup.sh --slurm
fi
[ -x build/ghx ] || bash scripts/build.sh >/dev/null
GHX="$ROOT/build/ghx"
[ -f models/tiny/vgg19.safetensors ] || "$GHX" models tiny models/tiny >/dev/null

T=$(mktemp -d /tmp/ghx-slurm.XXXXXX)
chmod 755 "$T"
pids=()
stop() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    for f in "$T"/*.log "$T"/work/*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  fi
  rm -rf "$T"
  exit $rc
}
trap stop EXIT

# munge, on a socket of its own (a system munged, if any, is left alone).
mkdir -p "$T/munge"
chmod 700 "$T/munge"
mungekey --create --keyfile="$T/munge/munge.key"
munged --key-file="$T/munge/munge.key" --socket="$T/munge/socket" --pid-file="$T/munge/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munge/seed" --force
for _ in $(seq 50); do [ -s "$T/munge/munged.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$T/munge/munged.pid")")

# Ports that differ between concurrent tests.
port=$((20000 + ($$ % 20000)))
node=ghxnode
cpus=$(nproc)
mkdir -p "$T/state" "$T/spool" "$T/work"
cat >"$T/slurm.conf" <<CONF
ClusterName=ghxtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/socket
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$(hostname -s) CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" -f "$SLURM_CONF" >"$T/slurmd.out" 2>&1 &
pids+=($!)
ready=0
for _ in $(seq 20); do  # every 3 s, a minute at most
  sleep 3
  state=$(sinfo -h -N -n "$node" -o %t 2>/dev/null || true)
  case "$state" in idle*|mix*|alloc*) ready=1; break ;; esac
done
[ $ready = 1 ] || { echo "slurm-test: the node did not come up (state '${state:-none}')" >&2; exit 1; }

# The reference: one host.
W="$T/work"
cp -r experiments suites "$W/"
ln -s "$ROOT/models" "$W/models"
# The demo with 8 images per prompt instead of 4: a shard runs long enough to be cancelled mid-way.
sed -i 's/^n_iter = 2/n_iter = 4/' "$W/experiments/demo.toml"
# With the OpenBLAS thread count the sbatch scripts give every job (it is in the model steps' keys).
(cd "$W" && OPENBLAS_NUM_THREADS=1 "$GHX" run experiments/demo.toml --cache single-cache --out "$W/single" >/dev/null 2>&1)

export GHX
caches="$W/caches"
submit() { sbatch --parsable --chdir="$W" "$@"; }
array=$(submit --array=1-4 "$ROOT/scripts/ghx-array.sbatch" 4 experiments/demo.toml "$caches" --jobs 2)
# Cancel task 3 once it has stored some steps (watching its cache file, not polling Slurm).
db="$caches/shard-3-of-4/ghx.db"
for _ in $(seq 600); do
  n=$(sqlite3 "$db" "select count(*) from steps" 2>/dev/null || echo 0)
  [ "${n:-0}" -gt 20 ] && break
  sleep 0.2
done
scancel "${array}_3" || true
# Wait for the array to leave the queue, polling every 3 s (no storm of squeue).
for _ in $(seq 200); do
  [ -z "$(squeue -h -j "$array" 2>/dev/null)" ] && break
  sleep 3
done
[ -z "$(squeue -h -j "$array" 2>/dev/null)" ] || { echo "slurm-test: the array did not finish" >&2; exit 1; }
for i in 1 2 4; do
  grep -q "shard $i/4" "$W/ghx-shard-${array}_$i.out" || { echo "slurm-test: task $i did not run" >&2; exit 1; }
done
# The cancelled task, resubmitted alone: it redoes only what its cache lacks.
again=$(submit --array=3 "$ROOT/scripts/ghx-array.sbatch" 4 experiments/demo.toml "$caches")
sbatch --wait --chdir="$W" --dependency=afterok:"$again" "$ROOT/scripts/ghx-merge.sbatch" 4 experiments/demo.toml \
  "$caches" "$OUT" >/dev/null
line=$(grep "shard 3/4" "$W/ghx-shard-${again}_3.out")
echo "slurm-test: resubmitted task 3: $line"
steps=$(printf '%s' "$line" | sed -n 's/.*(\([0-9]*\) steps.*/\1/p')
executed=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) executed.*/\1/p')
cached=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) cached.*/\1/p')
[ "$((executed + cached))" = "$steps" ] || { echo "slurm-test: task 3 did $executed + $cached of $steps steps" >&2; exit 1; }
[ "$cached" -gt 0 ] || echo "slurm-test: note: task 3 was cancelled before it stored a step" >&2
merge_out=$(ls "$W"/ghx-merge-*.out)
grep -q "merged 4 cache(s)" "$merge_out" || { echo "slurm-test: no merge in $merge_out" >&2; exit 1; }
cmp "$W/single/report.html" "$OUT/report.html" || { echo "slurm-test: report.html differs from one host's" >&2; exit 1; }
diff -r "$W/single" "$OUT" >/dev/null || { echo "slurm-test: the report folder differs: $(diff -rq "$W/single" "$OUT")" >&2; exit 1; }
echo "slurm-test: ok: 4 shards as a Slurm job array (task 3 cancelled and resubmitted), merged; $OUT/report.html is byte-identical to one host's"
