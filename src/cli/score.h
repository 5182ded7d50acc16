#pragma once
// `ghx score`: metrics of image files given on the command line (docs/language.md).
#include <string>
#include <vector>

namespace ghx::cli {

struct ScoreArgs {
  std::vector<std::string> images;
  bool json = false;
  // style
  std::string vgg19;
  std::vector<std::string> targets;
  std::string variant = "ghostreview";
  std::string layers = "ghostreview";
  std::string size = "512x512";
  // aesthetic / clip
  std::string clip, arch = "ViT-L/14", layout, activation, head, tokenizer, prompt;
  std::string clip_variant = "raw";
};

/// Exit code: 0, or 1 when some image could not be scored. Throws ghx::Error (exit 2).
int score_style(const ScoreArgs& a);
int score_clip_family(const ScoreArgs& a, bool aesthetic);

}  // namespace ghx::cli
