// set_torch_threads, torch_description (style.h) and ensure_torch_threads (torch_runtime.h).
#include "models/torch_runtime.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <cstring>

#include "models/torch_tensor.h"
#include "util/error.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <atomic>
#include <thread>

#include "models/style.h"

namespace ghx::models {
namespace {
std::atomic<bool> g_threads_chosen{false};
}  // namespace

int set_torch_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  at::set_num_threads(n);
  g_threads_chosen = true;
  return at::get_num_threads();
}

void ensure_torch_threads() {
  if (!g_threads_chosen) set_torch_threads(0);
}

std::string torch_description() {
  return std::string("libtorch ") + TORCH_VERSION + " (cpu)";
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
