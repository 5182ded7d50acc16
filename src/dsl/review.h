#pragma once
// The typed review: what an experiment file and its suites declare, after validation.
// Owns no behaviour beyond small lookups; built by dsl/loader.h, read by plan/.
// Paths are resolved (relative to the file that named them) and checked to exist by the loader;
// they never enter step keys (files enter by content, see plan/file_hasher.h).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dsl/diagnostics.h"

namespace ghx::dsl {

struct Hires {
  double scale = 2.0;
  std::string upscaler = "Latent";
  double denoising_strength = 0.5;
  int64_t second_pass_steps = 0;
};

/// Generation settings; [generation] gives defaults, a [[section]] may override any key.
struct Generation {
  std::string backend = "synthetic";
  std::vector<std::string> endpoints;
  std::string sampler = "DPM++ 2M Karras";
  int64_t steps = 30;
  double cfg_scale = 6.0;
  int64_t width = 512;
  int64_t height = 768;
  int64_t batch_size = 4;
  int64_t n_iter = 8;
  std::string negative_prompt;
  std::string vae;
  int64_t clip_skip = 1;
  std::optional<Hires> hires;
  std::string workflow;    ///< comfyui: resolved path of the API-format workflow template
  std::string import_dir;  ///< import: resolved folder of existing images
  int64_t images_per_prompt() const { return batch_size * n_iter; }
};

struct Checkpoint {
  std::string name;
  std::string file;          ///< resolved path, or "" when only backend_name is given
  std::string backend_name;  ///< how the backend knows it, or ""
  std::string sha256;        ///< optional pin (lowercase hex), or ""
  /// Not from TOML: for a checkpoint named only by backend_name on a server backend, the
  /// identity the server reports ("sha256:<64 hex>", always the full hash), filled in before
  /// planning (run/run.h identify_server_checkpoints).
  std::string server_identity;
  SourcePos pos;
};

struct ModelFile {
  std::string file;  ///< resolved path
  std::string arch;
  std::string layout;
  std::string activation;
  std::string clip;  ///< aesthetic: the [models] entry whose embedding it reads
  SourcePos pos;
};

/// [models]. CLIP towers: `clip`, any `clip_<name>`, and the preference models `hpsv2` and
/// `pickscore` (CLIPs whose cosine is the score). Heads over a CLIP embedding: `aesthetic`,
/// `rating`, `artifacts`, each naming its CLIP entry in `clip` (default "clip").
struct Models {
  std::map<std::string, ModelFile> clips;
  std::map<std::string, ModelFile> heads;
  std::optional<ModelFile> vgg19;
  std::string tokenizer;  ///< resolved path or ""
  const ModelFile* clip(const std::string& name) const {
    auto it = clips.find(name);
    return it == clips.end() ? nullptr : &it->second;
  }
  const ModelFile* head(const std::string& name) const {
    auto it = heads.find(name);
    return it == heads.end() ? nullptr : &it->second;
  }
};

/// Metrics over CLIP embeddings: heads (a [models] head of the same name) and preference
/// models (a [models] CLIP of the same name, cosine with the prompt).
bool is_head_metric(const std::string& metric);
bool is_preference_metric(const std::string& metric);

enum class StyleLossVariant { ghostreview, normalized };
enum class ClipScoreVariant { raw, hessel, x100 };

struct MetricsConfig {
  StyleLossVariant style_loss = StyleLossVariant::ghostreview;
  std::string style_layers = "ghostreview";  ///< a models::style_layer_presets() name
  ClipScoreVariant clip_score = ClipScoreVariant::raw;
};

struct Statistics {
  int64_t bootstrap = 2000;  ///< stats::k_default_bootstrap
  double ci = 0.95;
  int64_t seed = 0;
};

struct Prompt {
  std::string id;
  std::string text;
  std::optional<std::string> negative;
  bool skip = false;
  SourcePos pos;
};

struct Style {
  std::string id;
  std::vector<std::string> prompts;
  std::string targets_dir;                ///< resolved folder
  std::vector<std::string> target_files;  ///< resolved image files, sorted by name
  SourcePos pos;
};

/// Another LoRA of the suite that a showcase image was made with (Civitai "resources").
struct LoraUse {
  std::string lora;              ///< a [[lora]] id of the same suite
  std::optional<double> weight;  ///< absent: [lora_defaults] weight
  SourcePos pos;
};

/// One showcase image of a LoRA and the prompt that made it (before fixups).
struct Showcase {
  std::string image;   ///< resolved path
  std::string prompt;
  std::optional<std::string> negative;  ///< overrides the section's negative_prompt
  bool skip = false;
  std::vector<LoraUse> uses;
  SourcePos pos;
};

struct Lora {
  std::string id;
  std::string tag;   ///< the NAME inside <lora:NAME:W>
  std::string file;  ///< resolved path, or "" (then the backend alone knows it)
  std::vector<std::string> made_with;  ///< checkpoint names that made its showcase images (NoTM)
  std::vector<Showcase> showcase;
  SourcePos pos;
};

enum class FixupKind { swap_version, default_weight, add_missing_tags, exclude_made_with };

/// A [[fixup]] rule of a LoRA suite; applied in the order written (dsl/lora.h).
struct Fixup {
  FixupKind kind = FixupKind::default_weight;
  std::string from, to;  ///< swap_version
  double weight = 0.8;   ///< default_weight: the rule's weight, else [lora_defaults] weight
  SourcePos pos;
};

struct Suite {
  std::string name;
  std::string file;
  std::vector<Prompt> prompts;
  std::vector<Style> styles;
  double lora_default_weight = 0.8;  ///< [lora_defaults] weight
  std::vector<Lora> loras;
  std::vector<Fixup> fixups;
  const Lora* lora(const std::string& id) const {
    for (const auto& l : loras)
      if (l.id == id) return &l;
    return nullptr;
  }
};

struct Section {
  std::string id;
  Generation generation;  ///< [generation] merged with the section's overrides
  std::optional<Suite> prompts;
  std::optional<Suite> styles;
  std::optional<Suite> loras;
  std::vector<std::string> metrics;
  std::optional<std::pair<int64_t, int64_t>> style_size;  ///< width, height
  SourcePos pos;
};

struct Review {
  /// The `numerics` of model step keys (models/numerics.h); empty = this machine's. `ghx verify`
  /// sets the bundle's, so that a bundle re-derives the same keys on any machine.
  std::string numerics;
  std::string file;  ///< the experiment file as given
  std::string name;
  std::string version;
  int64_t seed = 1;
  std::string description;
  Generation generation;
  std::vector<Checkpoint> checkpoints;
  Models models;
  MetricsConfig metrics;
  Statistics statistics;
  std::vector<Section> sections;
  /// [cache] remote: a shared remote cache (cache/remote.h); where results are kept, not what
  /// they are, so in no step key.
  std::string cache_remote;
  /// XXH3-128 (hex) of everything the review was loaded from (Diagnostics::inputs()): the files'
  /// bytes, the paths checked, the folders listed.
  std::string inputs_digest;
};

const char* to_string(StyleLossVariant v);
const char* to_string(ClipScoreVariant v);
const char* to_string(FixupKind k);

}  // namespace ghx::dsl
