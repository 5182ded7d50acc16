// set_torch_threads, torch_description (style.h) and ensure_torch_threads (torch_runtime.h).
#include "models/torch_runtime.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>

#include <dlfcn.h>

#include <cstring>

#include "models/numerics.h"
#include "models/torch_tensor.h"
#include "util/error.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "models/style.h"

namespace ghx::models {
namespace {
std::atomic<bool> g_threads_chosen{false};

// A caching CPU allocator for libtorch. VGG19's activations (32 MiB and more at 512 px) are freed
// and allocated again every layer of every batch; glibc always serves blocks that large with a
// fresh mmap whose pages the kernel must fault in and zero (a quarter of style_loss's CPU time in
// a probe). Here a freed block of 32 MiB or more is kept and handed out again for the next
// allocation of exactly the same size (activations repeat their sizes every batch), up to a cap
// of cached bytes (GHX_TORCH_CACHE_MB, default 512; 0 turns the cache off). Measured on the style
// benchmark: 512 MiB +13% items/s at +245 MB peak (still below PyTorch's), 1024 MiB +20% at
// +520 MB. Smaller blocks go straight to malloc: glibc keeps those in its heap after the first
// free (caching them too made CLIP texts 15% slower: missed sizes kept glibc from raising its
// mmap threshold). Never changes results: only where the bytes live.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(std::size_t cap) : m_cap(cap) {}

  c10::DataPtr allocate(std::size_t n) const override {
    void* p = nullptr;
    if (n < k_min) {  // small blocks: plain malloc, freed without a look-up
      if (posix_memalign(&p, 64, n == 0 ? 64 : n) != 0) throw std::bad_alloc();
      return {p, p, &std::free, c10::Device(c10::DeviceType::CPU)};
    }
    {
      std::lock_guard<std::mutex> lock(m_mu);
      auto it = m_free.find(n);
      if (it != m_free.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        m_cached -= n;
      }
    }
    if (!p && posix_memalign(&p, 64, n) != 0) throw std::bad_alloc();
    {
      std::lock_guard<std::mutex> lock(m_mu);
      m_live[p] = n;
    }
    return {p, p, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }

  static CachingCpuAllocator* instance;

 private:
  static void release(void* p) { instance->give_back(p); }
  void give_back(void* p) const {
    if (!p) return;
    std::unique_lock<std::mutex> lock(m_mu);
    auto it = m_live.find(p);
    if (it != m_live.end()) {
      const std::size_t n = it->second;
      m_live.erase(it);
      if (m_cached + n <= m_cap) {
        m_free[n].push_back(p);
        m_cached += n;
        return;
      }
    }
    lock.unlock();
    std::free(p);
  }

  static constexpr std::size_t k_min = std::size_t(32) << 20;
  std::size_t m_cap;
  mutable std::mutex m_mu;
  mutable std::unordered_map<void*, std::size_t> m_live;
  mutable std::unordered_map<std::size_t, std::vector<void*>> m_free;
  mutable std::size_t m_cached = 0;
};
CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

/// OpenBLAS's threads, to the count the keys name (numerics.h blas_threads). libtorch links the
/// BLAS that libblas.so.3 points to; where that is not OpenBLAS nothing is set.
void pin_blas_threads() {
  using SetThreads = void (*)(int);
  for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
    void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (!h) continue;
    const auto set = reinterpret_cast<SetThreads>(dlsym(h, "openblas_set_num_threads"));
    if (set) set(blas_threads());
    dlclose(h);
    if (set) return;
  }
}

void init_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    pin_blas_threads();
    const char* e = std::getenv("GHX_TORCH_CACHE_MB");
    long long mb = e && *e ? std::atoll(e) : 512;
    if (mb <= 0) return;
    CachingCpuAllocator::instance = new CachingCpuAllocator(static_cast<std::size_t>(mb) << 20);  // lives as long as libtorch
    c10::SetCPUAllocator(CachingCpuAllocator::instance, /*priority=*/10);
  });
}
}  // namespace

int set_torch_threads(int n) {
  init_runtime();
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  at::set_num_threads(n);
  g_threads_chosen = true;
  return at::get_num_threads();
}

void ensure_torch_threads() {
  init_runtime();
  if (!g_threads_chosen) set_torch_threads(0);
}

namespace {

/// On a GPU, scores must be the same bits run to run and close to the CPU's fp32 numbers: no
/// TF32 (cuDNN convolutions default to it, 10-bit mantissas: ~1e-3 relative on VGG), no cuDNN
/// autotuning (it may pick another algorithm each run), deterministic cuDNN algorithms, and
/// cuBLAS's deterministic workspace (CUBLAS_WORKSPACE_CONFIG, read when CUDA starts).
/// GHX_TF32=1 allows TF32 for speed, at the price of those guarantees.
void cuda_numerics() {
  const char* tf32 = std::getenv("GHX_TF32");
  const bool allow = tf32 && std::string(tf32) == "1";
  at::Context& ctx = at::globalContext();
  ctx.setAllowTF32CuDNN(allow);
  ctx.setAllowTF32CuBLAS(allow);
  ctx.setBenchmarkCuDNN(false);
  ctx.setDeterministicCuDNN(true);
  ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
}

}  // namespace

at::Device model_device() {
  static const at::Device dev = [] {
    const char* e = std::getenv("GHX_DEVICE");
    const std::string want = e && *e ? e : "auto";
    if (want == "auto") {
      if (!at::hasCUDA()) return at::Device(at::kCPU);
      cuda_numerics();
      return at::Device(at::kCUDA, 0);
    }
    if (want == "cpu") return at::Device(at::kCPU);
    if (want.rfind("cuda", 0) == 0) {
      if (!at::hasCUDA())
        throw Error("GHX_DEVICE=" + want + ", but this libtorch has no CUDA (Debian's libtorch-dev is CPU-only: "
                    "build against a CUDA libtorch with -DTorch_DIR=...)");
      try {
        const at::Device d(want);
        cuda_numerics();
        return d;
      } catch (const c10::Error&) {
        throw Error("GHX_DEVICE=" + want + ": not a device (cpu, cuda or cuda:N)");
      }
    }
    throw Error("GHX_DEVICE=" + want + ": not a device (auto, cpu, cuda or cuda:N)");
  }();
  return dev;
}

double gemm_gflops(int n, double min_seconds, bool onednn) {
  ensure_torch_threads();
  c10::InferenceMode guard;
  at::manual_seed(0);
  // (n x n)(n x n): as a matrix product, or as n pixels (32 x n/32) of n channels through a 1x1
  // convolution to n channels.
  const int w = 32, h = std::max(1, n / w);
  const at::Tensor a = onednn ? at::randn({1, n, h, w}).contiguous(at::MemoryFormat::ChannelsLast) : at::randn({n, n});
  const at::Tensor b = onednn ? at::randn({n, n, 1, 1}).contiguous(at::MemoryFormat::ChannelsLast) : at::randn({n, n});
  at::Tensor c = onednn ? at::Tensor() : at::empty({n, n});
  auto once = [&] {
    if (onednn) c = at::conv2d(a, b);
    else at::mm_out(c, a, b);
  };
  once();  // warm-up: first-call allocations and kernel choice
  const double flop = 2.0 * n * static_cast<double>(h) * w * n;
  double best = 0, total = 0;
  while (total < min_seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total += s;
    if (s > 0) best = std::max(best, flop / s / 1e9);
  }
  return best;
}

std::string torch_description() {
  std::string where = "cpu";
  try {
    where = model_device().str();
  } catch (const std::exception& e) {
    where = e.what();
  }
  return std::string("libtorch ") + TORCH_VERSION + " (" + where + ")";
}

at::Tensor float_tensor(const WeightFile& f, const std::string& key) {
  const TensorInfo& t = f.info(key);
  at::ScalarType type;
  switch (t.dtype) {
    case Dtype::f32: type = at::kFloat; break;
    case Dtype::f16: type = at::kHalf; break;
    case Dtype::bf16: type = at::kBFloat16; break;
    case Dtype::f64: type = at::kDouble; break;
    default:
      throw Error(f.path() + ": tensor '" + key + "': dtype " + dtype_name(t.dtype) +
                  " (F32, F16, BF16 or F64 expected)");
  }
  auto* p = const_cast<unsigned char*>(f.data(key));
  const std::size_t bytes = t.end - t.begin;
  const auto options = at::TensorOptions().dtype(type);
  if (reinterpret_cast<std::uintptr_t>(p) % dtype_size(t.dtype) != 0) {
    at::Tensor raw = at::empty(t.shape, options);
    if (bytes != 0) std::memcpy(raw.data_ptr(), p, bytes);
    return raw.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
  }
  std::shared_ptr<const Mapping> keep = f.mapping();
  at::Tensor view = at::from_blob(
      p, t.shape, [keep](void*) mutable { keep.reset(); }, options);
  return view.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace ghx::models
