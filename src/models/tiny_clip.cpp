// write_tiny_clip and write_tiny_aesthetic: small deterministic random weights (TinyRng, fixed
// seeds) for tests and demos. The CLIP is a real Hugging Face CLIPModel in miniature: HF key
// layout in safetensors and an HF-style config.json that clip_config() reads.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/clip.h"
#include "models/heads.h"
#include "models/safetensors.h"
#include "models/tiny_rng.h"
#include "util/error.h"

namespace ghx::models {
namespace {

constexpr std::uint64_t k_clip_seed = 0x6768785f636c6970ull;       // "ghx_clip"
constexpr std::uint64_t k_aesthetic_seed = 0x6768785f61657374ull;  // "ghx_aest"

// Tiny sizes: the towers differ in width (and the MLPs in ratio) so that a transposed or swapped
// tensor cannot pass the shape checks by accident.
constexpr int k_vision_width = 32, k_vision_layers = 2, k_vision_heads = 4, k_vision_mlp = 64;
constexpr int k_text_width = 24, k_text_layers = 2, k_text_heads = 4, k_text_mlp = 96;
constexpr int k_image = 32, k_patch = 8, k_context = 77, k_projection = 16;

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create folder: " + ec.message());
}

class Writer {
 public:
  explicit Writer(std::uint64_t seed) : m_rng(seed) {}
  // N(mean, std) values, drawn in call order (the order below fixes the bytes).
  void normal(const std::string& name, std::vector<std::int64_t> shape, double std, double mean = 0) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    FloatTensor t{std::move(shape), std::vector<float>(n)};
    for (float& v : t.data) v = static_cast<float>(mean + std * m_rng.normal());
    m_tensors[name] = std::move(t);
  }
  void linear(const std::string& prefix, std::int64_t out, std::int64_t in, bool bias = true) {
    normal(prefix + ".weight", {out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
    if (bias) normal(prefix + ".bias", {out}, 0.1);
  }
  void layer_norm(const std::string& prefix, std::int64_t d) {
    normal(prefix + ".weight", {d}, 0.1, 1.0);
    normal(prefix + ".bias", {d}, 0.1);
  }
  void encoder_layer(const std::string& prefix, std::int64_t d, std::int64_t mlp) {
    layer_norm(prefix + ".layer_norm1", d);
    for (const char* p : {"q_proj", "k_proj", "v_proj", "out_proj"})
      linear(prefix + ".self_attn." + p, d, d);
    layer_norm(prefix + ".layer_norm2", d);
    linear(prefix + ".mlp.fc1", mlp, d);
    linear(prefix + ".mlp.fc2", d, mlp);
  }
  std::map<std::string, FloatTensor>& tensors() { return m_tensors; }

 private:
  TinyRng m_rng;
  std::map<std::string, FloatTensor> m_tensors;
};

}  // namespace

std::string write_tiny_clip(const std::string& dir, int vocab_size) {
  if (vocab_size < 3) throw Error("write_tiny_clip: vocabulary size " + std::to_string(vocab_size) + " (at least 3)");
  make_dir(dir);
  Writer w(k_clip_seed);
  const std::int64_t grid = k_image / k_patch;
  // Vision tower.
  w.normal("vision_model.embeddings.patch_embedding.weight", {k_vision_width, 3, k_patch, k_patch},
           1.0 / std::sqrt(3.0 * k_patch * k_patch));
  w.normal("vision_model.embeddings.class_embedding", {k_vision_width}, 0.5);
  w.normal("vision_model.embeddings.position_embedding.weight", {grid * grid + 1, k_vision_width}, 0.3);
  w.layer_norm("vision_model.pre_layrnorm", k_vision_width);
  for (int n = 0; n < k_vision_layers; ++n)
    w.encoder_layer("vision_model.encoder.layers." + std::to_string(n), k_vision_width, k_vision_mlp);
  w.layer_norm("vision_model.post_layernorm", k_vision_width);
  w.linear("visual_projection", k_projection, k_vision_width, /*bias=*/false);
  // Text tower.
  w.normal("text_model.embeddings.token_embedding.weight", {vocab_size, k_text_width}, 0.5);
  w.normal("text_model.embeddings.position_embedding.weight", {k_context, k_text_width}, 0.3);
  for (int n = 0; n < k_text_layers; ++n)
    w.encoder_layer("text_model.encoder.layers." + std::to_string(n), k_text_width, k_text_mlp);
  w.layer_norm("text_model.final_layer_norm", k_text_width);
  w.linear("text_projection", k_projection, k_text_width, /*bias=*/false);
  w.tensors()["logit_scale"] = FloatTensor{{}, {static_cast<float>(std::log(1 / 0.07))}};

  const std::string path = (std::filesystem::path(dir) / "clip.safetensors").string();
  write_safetensors(path, w.tensors(), {{"format", "pt"}, {"ghx", "tiny clip v1 (random weights)"}});

  // A Hugging Face CLIPModel config.json with the keys clip_config() reads.
  nlohmann::ordered_json cfg;
  cfg["architectures"] = {"CLIPModel"};
  cfg["model_type"] = "clip";
  cfg["projection_dim"] = k_projection;
  cfg["logit_scale_init_value"] = 2.6592;
  cfg["text_config"] = {{"model_type", "clip_text_model"},
                        {"hidden_size", k_text_width},
                        {"intermediate_size", k_text_mlp},
                        {"num_hidden_layers", k_text_layers},
                        {"num_attention_heads", k_text_heads},
                        {"max_position_embeddings", k_context},
                        {"vocab_size", vocab_size},
                        {"hidden_act", "quick_gelu"},
                        {"layer_norm_eps", 1e-5},
                        {"projection_dim", k_projection},
                        {"bos_token_id", vocab_size - 2},
                        {"eos_token_id", vocab_size - 1},
                        {"pad_token_id", 0}};
  cfg["vision_config"] = {{"model_type", "clip_vision_model"},
                          {"hidden_size", k_vision_width},
                          {"intermediate_size", k_vision_mlp},
                          {"num_hidden_layers", k_vision_layers},
                          {"num_attention_heads", k_vision_heads},
                          {"image_size", k_image},
                          {"patch_size", k_patch},
                          {"num_channels", 3},
                          {"hidden_act", "quick_gelu"},
                          {"layer_norm_eps", 1e-5},
                          {"projection_dim", k_projection}};
  cfg["torch_dtype"] = "float32";
  const std::string cfg_path = (std::filesystem::path(dir) / "clip_config.json").string();
  {
    std::ofstream out(cfg_path, std::ios::binary | std::ios::trunc);
    out << cfg.dump(2) << "\n";
    if (!out) throw Error(cfg_path + ": cannot write");
  }
  return path;
}

std::string write_tiny_aesthetic(const std::string& dir, int input_dim) {
  if (input_dim <= 0) throw Error("write_tiny_aesthetic: input size " + std::to_string(input_dim));
  make_dir(dir);
  // improved-aesthetic-predictor's Linear layers at Sequential indices 0, 2, 4, 6, 7 (dropouts
  // between them), hidden sizes 32, 16, 8, 4 instead of 1024, 128, 64, 16.
  Writer w(k_aesthetic_seed);
  const std::pair<int, int> layers[] = {{0, 32}, {2, 16}, {4, 8}, {6, 4}, {7, 1}};
  std::int64_t in = input_dim;
  for (const auto& [index, out] : layers) {
    w.linear("layers." + std::to_string(index), out, in);
    in = out;
  }
  // Centre the scores near 5, like the real head's 1..10 scale.
  for (float& b : w.tensors()["layers.7.bias"].data) b += 5.0f;
  const std::string path = (std::filesystem::path(dir) / "aesthetic.safetensors").string();
  write_safetensors(path, w.tensors(),
                    {{"format", "pt"}, {"ghx", "tiny improved-aesthetic-predictor v1 (random weights)"}});
  return path;
}

}  // namespace ghx::models
