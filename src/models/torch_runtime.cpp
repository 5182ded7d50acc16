// set_torch_threads, torch_description (style.h) and ensure_torch_threads (torch_runtime.h).
#include "models/torch_runtime.h"

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

}  // namespace ghx::models
