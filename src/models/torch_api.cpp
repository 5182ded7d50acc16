// Forwarders from the torch-free interfaces to libghx_torch.so (see torch_api.h).
#include "models/torch_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "util/error.h"

namespace ghx::models {

namespace {

const TorchApi* load_module() {
  namespace fs = std::filesystem;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("GHX_TORCH_MODULE")) candidates.push_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back((exe.parent_path() / GHX_TORCH_MODULE_NAME).string());
    candidates.push_back((exe.parent_path().parent_path() / GHX_TORCH_MODULE_NAME).string());
  }
  candidates.push_back(GHX_TORCH_MODULE_NAME);
  std::string errors;
  for (const auto& c : candidates) {
    if (c.find('/') != std::string::npos && !fs::exists(c, ec)) continue;
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      errors += std::string("\n  ") + dlerror();
      continue;
    }
    auto entry = reinterpret_cast<const TorchApi* (*)()>(dlsym(h, "ghx_torch_api"));
    if (!entry) throw Error(c + ": not a ghx torch module (no ghx_torch_api)");
    const TorchApi* api = entry();
    if (!api || api->version != k_torch_api_version)
      throw Error(c + ": torch module API version " + std::to_string(api ? api->version : -1) + ", ghx needs " +
                  std::to_string(k_torch_api_version) + " (rebuild)");
    return api;
  }
  throw Error("cannot load the libtorch module " + std::string(GHX_TORCH_MODULE_NAME) +
              " (set GHX_TORCH_MODULE to its path)" + errors);
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

}  // namespace ghx::models
