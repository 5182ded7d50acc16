#pragma once
// CLIP architectures without the model: what the planner needs to key a CLIP (sizes, activation,
// preprocessing constants) and nothing that runs it (models/clip.h).
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
// Fails: clip_config throws ghx::Error naming the config file and key.
#include <array>
#include <optional>
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

/// The name as keys write it ("ViT-L/14") when `name` is a known architecture in any accepted
/// spelling ("vit-l-14", "ViT-L-14"), else nullopt (a config file's path). The one table of
/// known names: the loader, the planner and the messages all ask here.
std::optional<std::string> clip_arch_name(const std::string& name);
/// Every known name, in the table's order (for messages).
const std::vector<std::string>& clip_arch_names();

}  // namespace ghx::models
