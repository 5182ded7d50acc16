#pragma once
// Internal to src/models/: the seam between ghx and libghx_torch.so, the module that holds every
// libtorch-backed model. ghx links only the torch-free code; the module is loaded with dlopen on
// the first call that needs a model (a libtorch-linked process pays ~0.4 s and 160 MB at start,
// which planning, no-op runs and cache commands must not).
// The module is looked for in $GHX_TORCH_MODULE, then beside the executable, then one folder up
// (tests/), then in the library search path.
// Fails: throws ghx::Error when the module cannot be loaded or has another API version.
// Never: loads the module unless a model is asked for.
#include <memory>
#include <string>

#include "models/clip.h"
#include "models/style.h"

namespace ghx::models {

/// Bump when TorchApi changes; the module and ghx must agree.
constexpr int k_torch_api_version = 2;

struct TorchApi {
  int version = k_torch_api_version;
  std::unique_ptr<Vgg19Style> (*load_vgg19)(const std::string& path) = nullptr;
  std::unique_ptr<ClipModel> (*load_clip)(const std::string& path, const ClipConfig& config, ClipLayout layout,
                                          const std::string& activation) = nullptr;
  int (*set_threads)(int n) = nullptr;
  std::string (*describe)() = nullptr;
  double (*gemm_gflops)(int n, double min_seconds, bool onednn) = nullptr;
};

/// The module's table, loading it on first use. Thread-safe.
const TorchApi& torch_api();

}  // namespace ghx::models

/// The module's one exported symbol.
extern "C" const ghx::models::TorchApi* ghx_torch_api();
