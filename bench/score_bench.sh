#!/usr/bin/env bash
# Scoring benchmark: each model-backed metric of ghx against the same model in PyTorch (Debian's
# python3-torch, the same OpenBLAS and oneDNN, the same thread count), in one run.
#   style            VGG19 features[:29] Gram matrices of N images + T targets (512x512), then
#                    the N x T style losses (ghx: Vgg19Style::grams + style_loss; PyTorch:
#                    torchvision's vgg19 features, NCHW as torchvision runs it, and again in
#                    channels_last, the faster layout)
#   clip_preprocess  CLIP preprocessing of decoded 640x480 images (ghx: clip_preprocess;
#                    PyTorch: torchvision Resize(224, bicubic) + CenterCrop + ToTensor + Normalize)
#   clip_image       CLIP image embeddings of preprocessed 224px images (PyTorch: batches of 8)
#   clip_text        CLIP text embeddings of M prompts of 5..40 tokens (PyTorch: batches of 8,
#                    padded to the batch's longest prompt, as HF's processor with padding=True)
#   head             improved-aesthetic-predictor head on K embeddings (PyTorch: batches of 8)
#   (and, once per rep and thread count, libtorch's float32 GEMM rate on 2048^3 products: the
#   peak the achieved GFLOP/s of VGG19, CLIP image and CLIP text are read against)
# Weights are full-size and random (written once per run by score_bench.py prepare into
# bench/out/: torchvision vgg19 features with torch.manual_seed(0); CLIP ViT-L/14 in the HF
# layout with its config.json, or ViT-B/32 with --clip-arch vit-b-32 or when the disk is short);
# inputs are deterministic PNGs / raw arrays that both sides read.
#
# Usage: bench/score_bench.sh [--reps R] [--threads "2 1"] [--metrics "style clip_image ..."]
#                             [--clip-arch vit-l-14|vit-b-32] [--build DIR] [--keep-weights]
#                             [--retries K]
#   --reps R         runs per side, metric and thread count (default 3); the figures are medians
#   --threads LIST   thread counts to measure (default "2 1")
#   --build DIR      CMake build folder for ghx_bench_score (default build/)
#   --keep-weights   reuse bench/out/weights + inputs if they exist (same arch)
#   --retries K      redo a run disturbed by other processes (busy beyond the cores the run
#                    leaves free + 0.3, from /proc/stat) up to K times (default 2)
# Both sides run with OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=N and OMP_WAIT_POLICY=PASSIVE: ghx
# sets PASSIVE itself before it loads libtorch (libgomp's spinning threads fought OpenBLAS's
# threads, 4x slower at 2 threads), so PyTorch gets it too; ghx calls set_torch_threads(N),
# PyTorch torch.set_num_threads(N). ghx and PyTorch run alternately (the order flips each rep).
# Writes: bench/out/score_bench.md (tables, also on stdout), bench/out/score_bench.jsonl (every
#         run), bench/out/score_bench.log, bench/out/results/ (outputs of both sides, compared).
set -euo pipefail

REPS=3
THREADS="2 1"
METRICS="style clip_preprocess clip_image clip_text head"
ARCH=vit-l-14
KEEP=0
RETRIES=2
BUSY=0.3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
CMDLINE="bench/score_bench.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --metrics) METRICS="$2"; shift 2 ;;
    --clip-arch) ARCH="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --keep-weights) KEEP=1; shift ;;
    --retries) RETRIES="$2"; shift 2 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "score_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

PY=/usr/bin/python3  # Debian's python3-torch (python3 on PATH may be a pyenv shim)
OUT="$ROOT/bench/out"
LOG="$OUT/score_bench.log"
RUNS="$OUT/score_bench.jsonl"
MD="$OUT/score_bench.md"
BENCH="$BUILD/ghx_bench_score"
mkdir -p "$OUT/results"
: > "$LOG"
: > "$RUNS"
say() { echo "[score_bench] $*" | tee -a "$LOG" >&2; }

"$PY" -c 'import torch, torchvision, PIL, numpy' 2>>"$LOG" || {
  echo "score_bench.sh: $PY lacks torch/torchvision/PIL/numpy (apt install python3-torch python3-torchvision)" >&2; exit 2; }

# ---- weights and inputs (once per run) --------------------------------------------------------
if [ "$ARCH" = vit-l-14 ]; then
  free_gb=$(df -BG --output=avail "$OUT" | tail -1 | tr -dc '0-9')
  if [ "${free_gb:-0}" -lt 6 ]; then
    say "only ${free_gb} GB free: ViT-L/14 (1.7 GB of weights) replaced by ViT-B/32"
    ARCH=vit-b-32
  fi
fi
have_arch=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["clip_arch"])' \
  "$OUT/inputs/inputs.json" 2>/dev/null || true)
if [ "$KEEP" = 1 ] && [ "$have_arch" = "$ARCH" ] && [ -f "$OUT/weights/clip/model.safetensors" ]; then
  say "reusing bench/out/weights and bench/out/inputs ($ARCH)"
else
  say "writing random full-size weights and inputs ($ARCH)"
  rm -rf "$OUT/weights" "$OUT/inputs"
  "$PY" "$ROOT/bench/score_bench.py" prepare "$OUT" --clip-arch "$ARCH" >>"$LOG" 2>&1
fi

# ---- build ------------------------------------------------------------------------------------
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1
fi
say "building ghx_bench_score in $BUILD"
ninja -C "$BUILD" -j2 ghx_bench_score ghx_torch >>"$LOG" 2>&1

# ---- measurement ------------------------------------------------------------------------------
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
COMMIT="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt bench 2>/dev/null)" ]; then
  COMMIT="$COMMIT + uncommitted changes"
fi
export OMP_WAIT_POLICY=PASSIVE

# run_side SIDE METRIC THREADS REP [RESULTS]: one process, its JSON line appended to $RUNS.
# A run during which other processes kept busy more than the cores it leaves free + $BUSY
# (others_cores) is marked disturbed and done again, up to $RETRIES more times; the report
# leaves disturbed runs out when a side has undisturbed ones.
run_side() {
  local side="$1" metric="$2" threads="$3" rep="$4" res="${5:-}" attempt
  for attempt in $(seq 0 "$RETRIES"); do
    if run_once "$side" "$metric" "$threads" "$rep" "$res" "$attempt"; then return 0; fi
  done
  return 0
}

run_once() {
  local side="$1" metric="$2" threads="$3" rep="$4" res="${5:-}" attempt="$6" line
  case "$side" in
    ghx) line=$(OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
                "$BENCH" "$OUT" "$metric" "$threads" $res 2>>"$LOG") ;;
    pytorch) line=$(OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
                    "$PY" "$ROOT/bench/score_bench.py" run "$OUT" --metric "$metric" \
                    --threads "$threads" ${res:+--results $res} 2>>"$LOG") ;;
    pytorch_cl) line=$(OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
                       "$PY" "$ROOT/bench/score_bench.py" run "$OUT" --metric "$metric" \
                       --threads "$threads" --channels-last 2>>"$LOG") ;;
  esac || { say "FAILED: $side $metric $threads threads (see $LOG)"; exit 1; }
  echo "$line" >>"$LOG"
  local summary
  summary=$("$PY" - "$line" "$rep" "$attempt" "$BUSY" "$RUNS" <<'PYEOF'
import json, os, sys
d = json.loads(sys.argv[1])
d["rep"], d["attempt"] = int(sys.argv[2]), int(sys.argv[3])
# Others may use the cores this run leaves free; runs under a second are too short for
# /proc/stat's 10 ms ticks to tell.
free = max(0, (os.cpu_count() or 1) - d["threads"])
d["disturbed"] = d["seconds"] >= 1.0 and d["others_cores"] > free + float(sys.argv[4])
with open(sys.argv[5], "a") as f:
    f.write(json.dumps(d) + "\n")
print("%.3f items/s, peak %.0f MB, others %.2f cores%s" % (
    d["items_per_s"], d["peak_mb"], d["others_cores"], " DISTURBED" if d["disturbed"] else ""))
PYEOF
)
  say "$(printf '%-10s %-16s %s threads rep %s: %s' "$side" "$metric" "$threads" "$rep" "$summary")"
  case "$summary" in *DISTURBED*) return 1 ;; esac
}

rm -f "$OUT"/results/*.f64
for t in $THREADS; do
  for rep in $(seq 1 "$REPS"); do
    # The GEMM peak of these threads, for the GFLOP/s table (ghx_bench_score gemm).
    run_side ghx gemm "$t" "$rep"
    for metric in $METRICS; do
      sides="ghx pytorch"
      [ "$metric" = style ] && sides="ghx pytorch pytorch_cl"
      # Alternate who goes first, so that a slow spell of the VM does not always hit one side.
      if [ $((rep % 2)) = 0 ]; then sides=$(echo "$sides" | tr ' ' '\n' | tac | tr '\n' ' '); fi
      for side in $sides; do
        res=""
        # The outputs of the first run at the first thread count are kept for the comparison.
        if [ "$rep" = 1 ] && [ "$t" = "${THREADS%% *}" ] && [ "$side" != pytorch_cl ]; then
          res="$OUT/results/${side}_${metric}.f64"
        fi
        run_side "$side" "$metric" "$t" "$rep" "$res"
      done
    done
  done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report -----------------------------------------------------------------------------------
"$PY" "$ROOT/bench/score_bench.py" compare "$OUT" >"$OUT/results/compare.jsonl"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MACHINE="$(nproc) vCPU ${CPU}, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr)"
"$PY" "$ROOT/bench/score_bench.py" report "$OUT" \
  --machine "$MACHINE" --command "$CMDLINE" --build "$BUILD" \
  --load "before $LOAD_BEFORE, after $LOAD_AFTER" --commit "$COMMIT" >"$MD"
cat "$MD"
say "wrote $MD"
