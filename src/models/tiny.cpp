// write_tiny_vgg19: small deterministic weights in torchvision's vgg19 `features` layout.
// No libtorch RNG (its stream is a libtorch implementation detail): splitmix64 + Box-Muller.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>

#include "models/safetensors.h"
#include "models/style.h"
#include "models/tiny_rng.h"
#include "util/error.h"

namespace ghx::models {
namespace {

constexpr std::uint64_t k_seed = 0x6768785f76676731ull;  // "ghx_vgg1"

// Out channels of each conv of features[:29]: blocks of 8, 16, 32, 64, 64 channels.
constexpr std::pair<int, int> k_layers[] = {{0, 8},   {2, 8},   {5, 16},  {7, 16}, {10, 32},
                                            {12, 32}, {14, 32}, {16, 32}, {19, 64}, {21, 64},
                                            {23, 64}, {25, 64}, {28, 64}};

}  // namespace

std::string write_tiny_vgg19(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create folder: " + ec.message());
  TinyRng rng(k_seed);
  std::map<std::string, FloatTensor> tensors;
  int in = 3;
  for (const auto& [index, out] : k_layers) {
    // He initialisation (std = sqrt(2 / fan_in)) keeps activations of order 1 through ReLUs.
    const double scale = std::sqrt(2.0 / (in * 9));
    FloatTensor w{{out, in, 3, 3}, std::vector<float>(static_cast<std::size_t>(out) * in * 9)};
    for (float& v : w.data) v = static_cast<float>(scale * rng.normal());
    FloatTensor b{{out}, std::vector<float>(static_cast<std::size_t>(out))};
    for (float& v : b.data) v = static_cast<float>(0.05 * rng.normal());
    const std::string prefix = "features." + std::to_string(index);
    tensors[prefix + ".weight"] = std::move(w);
    tensors[prefix + ".bias"] = std::move(b);
    in = out;
  }
  const std::string path = (std::filesystem::path(dir) / "vgg19.safetensors").string();
  write_safetensors(path, tensors, {{"format", "pt"}, {"ghx", "tiny vgg19 v1 (random weights)"}});
  return path;
}

}  // namespace ghx::models
