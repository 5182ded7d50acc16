// The numerics string of model steps' keys (models/numerics.h): which GEMM library runs CLIP's
// image tower is a function of the CPU and the oneDNN cap, and the key names the one that runs.
#include <catch2/catch.hpp>

#include "models/numerics.h"

using ghx::models::dnnl_isa_thread_invariant;

TEST_CASE("numerics: oneDNN runs CLIP's linears only with AVX-512 kernels", "[models][numerics]") {
  CHECK(dnnl_isa_thread_invariant("avx512", ""));
  CHECK(dnnl_isa_thread_invariant("avx512", "ALL"));
  CHECK(dnnl_isa_thread_invariant("avx512", "avx512_core"));
  CHECK(dnnl_isa_thread_invariant("avx512", "AVX512_CORE_AMX"));
  // capped below AVX-512, or a CPU without it: oneDNN's bits depended on the thread count
  CHECK_FALSE(dnnl_isa_thread_invariant("avx512", "AVX2"));
  CHECK_FALSE(dnnl_isa_thread_invariant("avx512", "avx2_vnni"));
  CHECK_FALSE(dnnl_isa_thread_invariant("avx512", "SSE41"));
  CHECK_FALSE(dnnl_isa_thread_invariant("avx2", ""));
  CHECK_FALSE(dnnl_isa_thread_invariant("avx2", "ALL"));
  CHECK_FALSE(dnnl_isa_thread_invariant("default", ""));
  CHECK_FALSE(dnnl_isa_thread_invariant("aarch64", ""));
}

TEST_CASE("numerics: the key names the GEMM library that runs", "[models][numerics]") {
  const std::string& k = ghx::models::numerics_key();
  if (ghx::models::planned_device_class() != "cpu") return;
  const bool on = ghx::models::clip_linears_on_dnnl();
  CHECK(k.find(on ? ";dnnl=on" : ";dnnl=off") != std::string::npos);
  CHECK(k.find(on ? ";dnnl=off" : ";dnnl=on") == std::string::npos);
  CHECK(k.find(";blas_threads=" + std::to_string(ghx::models::blas_threads())) != std::string::npos);
  CHECK(ghx::models::blas_threads() >= 1);
  // on this machine: on exactly when the CPU has AVX-512 and GHX_DNNL / the caps allow it
  if (k.find(";isa=avx512") == std::string::npos) CHECK_FALSE(on);
}
