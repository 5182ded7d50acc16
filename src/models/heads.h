#pragma once
// Score heads over CLIP image embeddings, torch-free interface. Every head L2-normalises its
// input first (a zero norm counts as 1, so a zero vector stays zero instead of becoming NaN).
// Kinds, recognised in this order:
// 1. A config beside the weights describes an MLP whose Linear layers are `layers.N.weight` /
//    `layers.N.bias` (N ascending; the gaps are nn.Sequential's Dropout/ReLU slots). Looked for:
//    FILE's stem + ".json", FILE + ".json", FILE's stem + ".config". Two schemas:
//    - ghx's: {"input": "pooled" | "projected",       required: which CLIP output it reads
//              "layers": [in, hidden..., 1],          required: checked against the weights
//              "activation": "relu" | "none",         optional, default "none": ReLU after every
//                                                     Linear but the last
//              "output": "linear" | "sigmoid_1_10"}   optional, default "linear";
//                                                     sigmoid_1_10 = 1 + 9 * sigmoid(x)
//      Other keys are refused (a typo must not pass silently).
//    - kenjiqq aesthetics-scorer's own `.config` (GhostReview's rating / artifacts heads):
//      {"input_size", "use_activation", "dropout", "hidden_dim", "reduce_dims",
//      "output_activation"}: input = the vision pooler output; use_activation = ReLU between
//      Linears; output_activation "sigmoid" = 1 + 9 * sigmoid(x); input_size is checked against
//      the weights, the hidden sizes are read from them (its reduce_dims flag does not reach the
//      layer sizes in its code, so the weights are the authority).
// 2. LAION aesthetic v1: `weight` [1, D] and `bias` [1]; input = the projected embedding.
// 3. improved-aesthetic-predictor: Linear, Dropout, Linear, Dropout, Linear, Dropout, Linear,
//    Linear (no activations): exactly `layers.{0,2,4,6,7}.{weight,bias}`; input = the projected
//    embedding; sizes from the weights (768-1024-128-64-16-1 for ViT-L/14).
// Arithmetic: double accumulators over the fp32 weights; an embedding's score never depends on
// the other embeddings of the call.
// Fails: throws ghx::Error naming the file and the key (tensor or config key): a missing tensor,
// a shape that breaks the chain or does not end in 1 output, a config that disagrees with the
// weights, an embedding of the wrong length. Never: keeps global state.
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
