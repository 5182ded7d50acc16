#pragma once
// Every switch outside a model's weights and inputs that changes the bits it computes, as one
// string for the keys of the steps that run a model (VGG19 and CLIP features, text features): the
// libtorch version, the device class (GHX_DEVICE; auto = CUDA only with a CUDA libtorch and an
// NVIDIA driver), TF32 on CUDA (GHX_TF32), oneDNN for CLIP's linear layers (clip_linears_on_dnnl), and the
// CPU kernel selectors: the CPU's vector ISA as ATen and oneDNN dispatch on it (capped by
// ATEN_CPU_CAPABILITY, DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA), OPENBLAS_CORETYPE and OpenBLAS's
// thread count (blas_threads), plus, when
// set, the library overrides of fp32 behaviour (TF32 overrides, cuBLAS workspace, oneDNN fpmath
// mode, MKL's CBWR). One string for every model step: a switch that affects only CLIP re-keys
// VGG19 too (safe, never stale). Known without loading libtorch (planning and no-op runs never
// load it). docs/cache-keys.md.
#include <string>

namespace ghx::models {

/// "libtorch=1.13.0;device=cpu;isa=avx512;dnnl=on;openblas=auto;blas_threads=2", or with device=cuda
/// ";tf32=off" in place of the CPU selectors. Read from the environment once per process.
const std::string& numerics_key();

/// Whether CLIP's image-tower linear layers run on oneDNN in this process: GHX_DNNL is not 0 and
/// dnnl_isa_thread_invariant() holds for this CPU and the oneDNN ISA cap. Elsewhere they run on
/// OpenBLAS, whose GEMM threads split the output, never a sum. The key's `dnnl=` says which.
bool clip_linears_on_dnnl();

/// Whether VGG19 runs in channels_last (oneDNN's nhwc convolutions) rather than NCHW (its blocked
/// ones): only on a CUDA device or where oneDNN dispatches AVX-512 (dnnl_isa_thread_invariant for
/// this CPU and the oneDNN ISA cap, both in the key; GHX_DNNL is not read). On an AVX2 EPYC NCHW
/// ran VGG19 1.25x faster (0.54 against 0.43 images/s at 512x512, 2 threads); on AVX-512
/// machines channels_last was the faster (docs/models.md).
bool vgg_channels_last();

/// oneDNN's fp32 GEMMs on AVX2 gave different bits with 1 and 2 threads (an AVX2 EPYC, the tiny
/// CLIP's shapes), and were no faster than OpenBLAS at ViT-L/14's shapes there; its AVX-512
/// kernels gave the same bits (tests/models/test_clip.cpp, on AVX-512 machines) and ran 1.45x
/// faster. True only for "avx512" with no cap, or a cap of ALL or an AVX-512 (or AVX10) level.
bool dnnl_isa_thread_invariant(const std::string& isa, const std::string& dnnl_isa_cap);

/// OpenBLAS's thread count in this process, which the module sets when it loads: its GEMMs give
/// other bits with each other count (every count 1..4 and 8 differed from 2, at every CLIP shape
/// tried, OpenBLAS 0.3.21), so the count is in the key. OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS or
/// OMP_NUM_THREADS (the first set to a positive integer, as OpenBLAS reads them), else the CPUs
/// this process may run on (sched_getaffinity).
int blas_threads();

/// "cpu" or "cuda": the device class numerics_key() names.
const std::string& planned_device_class();

/// Empty when the models of this process run with the libtorch version and on the device class
/// `key` names; else why not (a step planned for cuda run where libtorch found no GPU, or the
/// reverse, or a module built against another libtorch). `runtime` is
/// models::torch_description() (".. (cpu)" / ".. (cuda:0)").
std::string numerics_mismatch(const std::string& key, const std::string& runtime);

}  // namespace ghx::models
