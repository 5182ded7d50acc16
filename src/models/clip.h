#pragma once
// CLIP (vision and text towers) in libtorch behind a torch-free interface. Architectures and
// their configs: models/clip_config.h.
// Weight layouts: Hugging Face (`vision_model.*`, `text_model.*`, `visual_projection`,
// `text_projection`) and OpenAI / open_clip (`visual.*`, stacked `in_proj_weight`, transposed
// `visual.proj` and `text_projection`), detected from the keys; both towers are required.
// Activation quick_gelu (x * sigmoid(1.702 x)) or gelu (exact), from the config or overridden.
// Results: fp32; each image's / text's embedding depends only on its own input (bit-identical
// whatever else shares the call, run to run, with 1 or 2 threads: tests/models/test_clip.cpp).
// Fails: throws ghx::Error naming the file and key (missing key, wrong shape, a layer beyond the
// config's count, an unsupported dtype) or the config file and key; bad inputs (wrong pixel
// count, EOT outside the sequence, an id outside the vocabulary) are errors, not crashes.
// Never: downloads; keeps state beyond the loaded weights.
#include <memory>
#include <string>
#include <vector>

#include "models/clip_config.h"

namespace ghx::models {

enum class ClipLayout { automatic, hf, openai };

struct ImageEmbedding {
  std::vector<float> projected;  ///< projection_dim, not normalised
  std::vector<float> pooled;     ///< vision pooler_output (post-layernorm class token), width
};

class ClipModel {
 public:
  /// Loads weights (safetensors or .pth). `activation` "" keeps the config's. Throws ghx::Error.
  static std::unique_ptr<ClipModel> load(const std::string& path, const ClipConfig& config,
                                         ClipLayout layout = ClipLayout::automatic,
                                         const std::string& activation = "");
  virtual ~ClipModel() = default;
  virtual const ClipConfig& config() const = 0;
  /// `pixels`: n images, each 3 x image_size x image_size (clip_preprocess output). Batched.
  virtual std::vector<ImageEmbedding> encode_images(const std::vector<std::vector<float>>& pixels) = 0;
  /// `ids`: n token sequences of at most `context` ids (normally exactly `context`, zero-padded);
  /// `eot`: where each one's feature is read. Tokens after the EOT are never read (causal mask).
  virtual std::vector<std::vector<float>> encode_texts(const std::vector<std::vector<int32_t>>& ids,
                                                       const std::vector<int32_t>& eot) = 0;
};

/// Writes a tiny random CLIP (fixed seed) in the HF layout: DIR/clip.safetensors and
/// DIR/clip_config.json (vocabulary size matching write_tiny_bpe_vocab). Returns the weights path.
std::string write_tiny_clip(const std::string& dir, int vocab_size);

}  // namespace ghx::models
