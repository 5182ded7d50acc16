#include "models/numerics.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "models/torch_build.h"
#include "util/strings.h"

namespace ghx::models {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

/// The widest vector ISA ATen's and oneDNN's CPU dispatch would pick on this CPU.
std::string cpu_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
  return "default";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "default";
#endif
}

std::string device_class() {
  const std::string want = env("GHX_DEVICE");
  if (want.rfind("cuda", 0) == 0) return "cuda";
  if (want == "cpu") return "cpu";
  // auto (or unset): libtorch's at::hasCUDA() needs a CUDA build, a driver and a visible device
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const bool hidden = visible && (std::string(visible).empty() || std::string(visible).rfind("-1", 0) == 0);
  if (GHX_TORCH_CUDA && !hidden && access("/proc/driver/nvidia/version", R_OK) == 0) return "cuda";
  return "cpu";
}

std::string or_auto(const std::string& v) { return v.empty() ? "auto" : v; }

/// The oneDNN ISA cap as the user set it (ONEDNN_MAX_CPU_ISA, else DNNL_MAX_CPU_ISA), or "".
std::string dnnl_isa_cap() {
  const std::string v = env("ONEDNN_MAX_CPU_ISA");
  return v.empty() ? env("DNNL_MAX_CPU_ISA") : v;
}

}  // namespace

bool dnnl_isa_thread_invariant(const std::string& isa, const std::string& dnnl_isa_cap) {
  if (isa != "avx512") return false;
  if (dnnl_isa_cap.empty()) return true;
  auto starts = [&](std::string_view prefix) {
    return dnnl_isa_cap.size() >= prefix.size() && util::iequals(std::string_view(dnnl_isa_cap).substr(0, prefix.size()), prefix);
  };
  return util::iequals(dnnl_isa_cap, "ALL") || starts("AVX512") || starts("AVX10");
}

int blas_threads() {
  static const int n = [] {
    // OpenBLAS's own order (its read_env.c), so that the count is the one it would take itself
    for (const char* name : {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"}) {
      const std::string v = env(name);
      char* end = nullptr;
      const long x = v.empty() ? 0 : std::strtol(v.c_str(), &end, 10);
      if (x > 0 && end && *end == '\0') return static_cast<int>(std::min(x, 1024L));
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    const unsigned h = std::thread::hardware_concurrency();
    return h > 0 ? static_cast<int>(h) : 1;
  }();
  return n;
}

namespace {
/// oneDNN dispatches its AVX-512 kernels in this process (the CPU and the user's ISA cap).
bool dnnl_avx512() {
  static const bool on = dnnl_isa_thread_invariant(cpu_isa(), dnnl_isa_cap());
  return on;
}
}  // namespace

bool clip_linears_on_dnnl() { return env("GHX_DNNL") != "0" && dnnl_avx512(); }

bool vgg_channels_last() { return planned_device_class() == "cuda" || dnnl_avx512(); }

const std::string& planned_device_class() {
  static const std::string d = device_class();
  return d;
}

const std::string& numerics_key() {
  static const std::string key = [] {
    std::string k = std::string("libtorch=") + GHX_TORCH_VERSION + ";device=" + planned_device_class();
    // Library switches that change fp32 results when a user sets them: keyed as given.
    std::string extra;
    for (const char* name : {"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "NVIDIA_TF32_OVERRIDE", "CUBLAS_WORKSPACE_CONFIG",
                             "ONEDNN_DEFAULT_FPMATH_MODE", "DNNL_DEFAULT_FPMATH_MODE", "MKL_CBWR",
                             "MKL_ENABLE_INSTRUCTIONS"})
      if (const char* v = std::getenv(name)) extra += std::string(";") + name + "=" + v;
    if (planned_device_class() == "cuda") return k + ";tf32=" + (env("GHX_TF32") == "1" ? "on" : "off") + extra;
    std::string isa = cpu_isa();
    const std::string aten = env("ATEN_CPU_CAPABILITY");
    const std::string dnnl_isa = dnnl_isa_cap();
    k += ";isa=" + isa;
    if (!aten.empty()) k += ";aten=" + aten;
    if (!dnnl_isa.empty()) k += ";dnnl_isa=" + dnnl_isa;
    k += std::string(";dnnl=") + (clip_linears_on_dnnl() ? "on" : "off");
    k += ";openblas=" + or_auto(env("OPENBLAS_CORETYPE"));
    k += ";blas_threads=" + std::to_string(blas_threads());
    return k + extra;
  }();
  return key;
}

std::string numerics_mismatch(const std::string& key, const std::string& runtime) {
  const bool planned_cuda = key.find(";device=cuda") != std::string::npos;
  const bool runs_cuda = runtime.find("(cuda") != std::string::npos;
  // the module that runs must be built against the libtorch the key names (GHX_TORCH_MODULE,
  // LD_LIBRARY_PATH could load another)
  const auto v0 = key.find("libtorch="), v1 = key.find(';');
  const std::string version = v0 == 0 && v1 != std::string::npos ? key.substr(9, v1 - 9) : "";
  if (!version.empty() && runtime.rfind("libtorch " + version + " ", 0) != 0)
    return "this step was planned for libtorch " + version + " (" + key + ") but the models run on " + runtime;
  if (planned_cuda == runs_cuda) return "";
  return std::string("this step was planned for ") + (planned_cuda ? "cuda" : "cpu") + " (" + key +
         ") but the models run on " + runtime + "; set GHX_DEVICE to cpu or cuda";
}

}  // namespace ghx::models
