// The entry point of libghx_torch.so: the table of libtorch-backed implementations
// (see torch_api.h). The module is built with hidden visibility and -Bsymbolic, so the functions
// named here are the module's own definitions (vgg19.cpp, clip.cpp, torch_runtime.cpp),
// not ghx's forwarders of the same names; ghx_torch_api is the one exported symbol.
#include "models/torch_api.h"

extern "C" __attribute__((visibility("default"))) const ghx::models::TorchApi* ghx_torch_api() {
  using namespace ghx::models;
  static const TorchApi api = [] {
    TorchApi a;
    a.load_vgg19 = &Vgg19Style::load;
    a.set_threads = &set_torch_threads;
    a.describe = &torch_description;
    a.gemm_gflops = &gemm_gflops;
    a.load_clip = &ClipModel::load;
    return a;
  }();
  return &api;
}
