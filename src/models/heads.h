#pragma once
// Score heads over CLIP image embeddings, torch-free interface:
// - improved-aesthetic-predictor: Linear, Dropout, Linear, Dropout, Linear, Dropout, Linear,
//   Linear (no activations), keys layers.{0,2,4,6,7}.{weight,bias}; input the L2-normalised
//   projected embedding (a zero norm counts as 1); sizes read from the weights;
// - LAION aesthetic v1: one Linear (keys weight, bias);
// - rating / artifacts heads (kenjiqq aesthetics-scorer): MLP over the L2-normalised vision
//   pooler output, sizes from a JSON config beside the weights (FILE with .json).
// Fails: throws ghx::Error naming file and key. Never: keeps global state.
#include <memory>
#include <string>
#include <vector>

namespace ghx::models {

enum class HeadInput { projected, pooled };

class ScoreHead {
 public:
  /// Recognises the kind from the keys (and a .json config beside the file). Throws ghx::Error.
  static std::unique_ptr<ScoreHead> load(const std::string& path);
  virtual ~ScoreHead() = default;
  virtual HeadInput input() const = 0;
  virtual int input_dim() const = 0;
  /// One score per embedding (each input_dim() long); normalisation is done here.
  virtual std::vector<double> score(const std::vector<std::vector<float>>& embeddings) = 0;
};

/// Writes tiny random improved-aesthetic-predictor weights (fixed seed) for `input_dim`
/// embeddings as DIR/aesthetic.safetensors. Returns the path.
std::string write_tiny_aesthetic(const std::string& dir, int input_dim);

}  // namespace ghx::models
