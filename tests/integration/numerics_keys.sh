# Every switch that changes a computed number changes the keys of the model steps (one numerics
# string for all of them), never those of the images: oneDNN, OpenBLAS's kernels, the CPU ISA cap,
# the device. (Pipes end in `grep >/dev/null`, not `grep -q`: under pipefail an early exit of
# grep -q can SIGPIPE the writer and fail the check.)
source "$(dirname "$0")/lib.inc"

out=$("$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field failed "$out")" 0 "first run failed"
total=$(json_field total "$out")

plan_json() { env "$@" "$GHX" plan experiments/demo.toml --json 2>/dev/null | tr -d ' \n'; }
to_run() {  # ENV... -> steps the plan would run (steps.to_run: the last one, keys are sorted)
  plan_json "$@" | grep -o '"to_run":[0-9]*' | tail -1 | cut -d: -f2
}
gen_to_run() { plan_json "$@" | grep -o '"generate":{"to_run":[0-9]*' | cut -d: -f3; }
expect_eq "$(to_run GHX_DEVICE=cpu)" 0 "GHX_DEVICE=cpu is the CPU's auto"
expect_eq "$(to_run GHX_TF32=1)" 0 "TF32 changes nothing on the CPU"
expect_eq "$(to_run GHX_TORCH_CACHE_MB=64)" 0 "an allocator setting changes nothing"
# (some machines set OPENBLAS_CORETYPE already: take another core than theirs)
core=Haswell; [ "${OPENBLAS_CORETYPE:-}" = Haswell ] && core=Sandybridge
# GHX_DNNL=0 re-keys only where oneDNN runs CLIP's linears (an AVX-512 CPU): elsewhere OpenBLAS
# runs them already, the key says dnnl=off, and nothing is recomputed.
switches="OPENBLAS_CORETYPE=$core ATEN_CPU_CAPABILITY=default DNNL_MAX_CPU_ISA=AVX2 GHX_DEVICE=cuda"
# OpenBLAS's thread count changes its bits: another count re-keys (numerics.h blas_threads).
blas=$(grep -o 'blas_threads=[0-9]*' reports/demo-v1/provenance.json | cut -d= -f2)
[ -n "$blas" ] || fail "provenance names no blas_threads"
switches="$switches OPENBLAS_NUM_THREADS=$((blas + 1))"
expect_eq "$(to_run OPENBLAS_NUM_THREADS=$blas)" 0 "OPENBLAS_NUM_THREADS set to the count in use"
if grep >/dev/null '"numerics": "[^"]*;dnnl=on' reports/demo-v1/provenance.json; then
  switches="GHX_DNNL=0 $switches"
else
  grep >/dev/null '"numerics": "[^"]*;dnnl=off' reports/demo-v1/provenance.json || fail "provenance names no dnnl="
  grep >/dev/null '"numerics": "[^"]*;isa=avx512' reports/demo-v1/provenance.json && fail "dnnl=off on an AVX-512 CPU"
  expect_eq "$(to_run GHX_DNNL=0)" 0 "GHX_DNNL=0 where oneDNN is off already"
fi
for e in $switches; do
  n=$(to_run "$e")
  [ "$n" -gt 0 ] || fail "$e: no step to run"
  [ "$n" -lt "$total" ] || fail "$e: every step to run"
  expect_eq "$(gen_to_run "$e")" 0 "$e: images are reused"
done

# Generation is untouched: with oneDNN off every image comes from the cache.
out=$(GHX_DNNL=0 "$GHX" run experiments/demo.toml --json 2>/dev/null)
expect_eq "$(json_field failed "$out")" 0 "GHX_DNNL=0 run failed"
grep -q 'dnnl=off' reports/demo-v1/results.json || fail "results.json names the numerics"
grep -q '"git_commit"' reports/demo-v1/provenance.json || fail "provenance.json names the build"
grep -q 'git_commit\|ghx 0\.' reports/demo-v1/results.json && fail "results.json names the build"

# A step planned for CUDA on a CPU-only libtorch fails with a message; nothing is stored for it.
set +e
err=$(GHX_DEVICE=cuda "$GHX" run experiments/demo.toml --json 2>&1 >/dev/null); rc=$?
set -e
[ "$rc" -ne 0 ] || fail "GHX_DEVICE=cuda on a CPU-only libtorch succeeded"
printf '%s' "$err" | grep >/dev/null 'CUDA\|cuda' || fail "no message about CUDA: $err"
expect_eq "$(to_run GHX_DEVICE=cuda)" "$(to_run GHX_DEVICE=cuda)" "stable"
echo "numerics_keys: ok"

# A bundle re-derives its keys with the numerics it was computed with: it verifies under other
# switches, as on another machine.
"$GHX" bundle experiments/demo.toml -o demo.tar.gz >/dev/null 2>&1 || fail "bundle"
GHX_DNNL=0 OPENBLAS_CORETYPE=$core "$GHX" verify demo.tar.gz >/dev/null 2>verify.err || fail "verify under other switches: $(cat verify.err)"
echo "numerics_keys: bundle ok"
