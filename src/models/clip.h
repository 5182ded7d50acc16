#pragma once
// CLIP (vision and text towers) in libtorch behind a torch-free interface.
// Architectures: known names or a Hugging Face CLIP config.json (text_config, vision_config,
// projection_dim, hidden_act), which is how custom and tiny CLIPs are described.
// - "ViT-B/32", "ViT-L/14": OpenAI's weights: quick_gelu, OpenAI mean/std.
// - "ViT-H/14": open_clip laion2b_s32b_b79k (HPSv2, PickScore): exact gelu, OpenAI mean/std
//   (open_clip's pretrained config keeps the OpenAI defaults for it).
// - "ViT-L/14-laion2b": open_clip laion2b_s32b_b82k (GhostReview's rating / artifacts heads):
//   exact gelu, mean = std = 0.5 (open_clip registers INCEPTION_MEAN/STD for it).
//   open_clip's spelling (ViT-L-14) and any case are accepted.
// - A config.json: keys missing from text_config / vision_config take transformers' defaults
//   (CLIPTextConfig / CLIPVisionConfig, i.e. ViT-B/32: recent transformers write only the keys
//   that differ); text_config_dict / vision_config_dict (older files) are read when the plain
//   keys are absent. image_mean / image_std come from config.json, else from a
//   preprocessor_config.json beside it, else OpenAI's. Both towers must share hidden_act and
//   layer_norm_eps.
// Weight layouts: Hugging Face (`vision_model.*`, `text_model.*`, `visual_projection`,
// `text_projection`) and OpenAI / open_clip (`visual.*`, stacked `in_proj_weight`, transposed
// `visual.proj` and `text_projection`), detected from the keys; both towers are required.
// Activation quick_gelu (x * sigmoid(1.702 x)) or gelu (exact), from the config or overridden.
// Results: fp32; each image's / text's embedding depends only on its own input (bit-identical
// whatever else shares the call, run to run, thread count aside).
// Fails: throws ghx::Error naming the file and key (missing key, wrong shape, a layer beyond the
// config's count, an unsupported dtype) or the config file and key; bad inputs (wrong pixel
// count, EOT outside the sequence, an id outside the vocabulary) are errors, not crashes.
// Never: downloads; keeps state beyond the loaded weights.
#include <array>
#include <memory>
#include <string>
#include <vector>

namespace ghx::models {

struct ClipTowerConfig {
  int layers = 0;
  int width = 0;   ///< hidden size
  int heads = 0;
  int mlp = 0;     ///< intermediate size (default 4 * width)
};

struct ClipConfig {
  std::string name;  ///< "ViT-L/14" or the config file's path
  ClipTowerConfig vision;
  ClipTowerConfig text;
  int image_size = 224;
  int patch_size = 14;
  int context = 77;
  int vocab_size = 49408;
  int projection_dim = 768;
  std::string activation = "quick_gelu";  ///< or "gelu"
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
  float layer_norm_eps = 1e-5f;
};

/// A known architecture name or the path of a HF config.json. Throws ghx::Error.
ClipConfig clip_config(const std::string& arch_or_path);

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
