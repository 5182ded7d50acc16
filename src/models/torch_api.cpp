// Forwarders from the torch-free interfaces to libghx_torch.so (see torch_api.h).
#include "models/torch_api.h"

#include <cstdlib>
#include <mutex>

#include "util/error.h"
#include "util/module.h"

namespace ghx::models {

namespace {

const TorchApi* load_module() {
  auto entry = reinterpret_cast<const TorchApi* (*)()>(
      util::load_module_entry(GHX_TORCH_MODULE_NAME, "GHX_TORCH_MODULE", "ghx_torch_api", "the libtorch module"));
  const TorchApi* api = entry();
  if (!api || api->version != k_torch_api_version)
    throw Error(std::string(GHX_TORCH_MODULE_NAME) + ": torch module API version " +
                std::to_string(api ? api->version : -1) + ", ghx needs " + std::to_string(k_torch_api_version) +
                " (rebuild)");
  return api;
}

template <typename F>
F need(F f, const char* what) {
  if (!f) throw Error(std::string("the libtorch module has no ") + what);
  return f;
}

}  // namespace

const TorchApi& torch_api() {
  // libgomp's spinning worker threads fight OpenBLAS's threads for the cores: measured 4x slower
  // CLIP on 2 cores. Passive waiting unless the user chose; must be set before libgomp loads.
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  static std::once_flag once;
  static const TorchApi* api = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    try {
      api = load_module();
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  if (!api) throw Error(failure);
  return *api;
}

std::unique_ptr<Vgg19Style> Vgg19Style::load(const std::string& path) {
  return need(torch_api().load_vgg19, "VGG19")(path);
}

std::unique_ptr<ClipModel> ClipModel::load(const std::string& path, const ClipConfig& config, ClipLayout layout,
                                           const std::string& activation) {
  return need(torch_api().load_clip, "CLIP")(path, config, layout, activation);
}

int set_torch_threads(int n) { return need(torch_api().set_threads, "thread control")(n); }

std::string torch_description() { return need(torch_api().describe, "version")(); }

double gemm_gflops(int n, double min_seconds, bool onednn) {
  return need(torch_api().gemm_gflops, "GEMM timing")(n, min_seconds, onednn);
}

}  // namespace ghx::models
