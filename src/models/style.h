#pragma once
// VGG19 style features (Gatys): the only libtorch-backed model of the style_loss metric.
// This header is libtorch-free on purpose: everything outside src/models/ includes only it.
//
// Owns: loading torchvision's vgg19 `features.N.weight/bias` layout (conv layers up to
// features.28 = conv5_1) from a safetensors or torch .pth file (models/weights.h); turning RGB
// images into raw Gram matrices at the layers of a preset (StyleLayers: GhostReview's conv
// outputs before ReLU at features 0, 5, 10, 19, 28 by default); the style loss between two Gram
// sets in GhostReview's variant (unnormalised Gram) and the textbook variant (Gram / (C*H*W)).
// Fails: throws ghx::Error naming the file and key (missing key, wrong shape, bad dtype,
// truncated or garbage file). Never: downloads, writes files, or keeps global state beyond the
// torch thread count.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "models/style_layers.h"

namespace ghx::models {

enum class StyleVariant { ghostreview, normalized };

/// Gram matrices of one image at the five style layers. `grams[l]` is row-major C_l x C_l, raw
/// (F F^T with F the C x (H*W) pre-ReLU conv output), so either variant can be derived later;
/// `sizes[l]` = C_l * H_l * W_l, the textbook normaliser.
struct GramSet {
  std::vector<int> channels;
  std::vector<double> sizes;
  std::vector<std::vector<float>> grams;
};

/// Serialised form stored in the cache (little-endian, versioned): see style.cpp.
std::string serialize_grams(const GramSet& g);
/// Throws ghx::Error on a truncated or inconsistent buffer.
GramSet deserialize_grams(const std::string& bytes);

/// Per layer mean((G - A)^2), summed over layers; for `normalized` each Gram is first divided by
/// its C*H*W. Throws ghx::Error if the two sets have different shapes.
double style_loss(const GramSet& image, const GramSet& target, StyleVariant variant);

class Vgg19Style {
 public:
  /// Loads the weights (safetensors or .pth; F32, F16, BF16 or F64; channel counts taken from the shapes).
  /// Uses every core unless set_torch_threads() was called before. Throws ghx::Error.
  static std::unique_ptr<Vgg19Style> load(const std::string& path);
  virtual ~Vgg19Style() = default;
  /// `images`: 8-bit RGB (CV_8UC3, RGB order), resized by the caller to one common size.
  /// One Gram per entry of `layers.features`, in order (the default: "ghostreview").
  /// Deterministic: same inputs give bit-identical output.
  virtual std::vector<GramSet> grams(const std::vector<cv::Mat>& rgb_images, const StyleLayers& layers) = 0;
  std::vector<GramSet> grams(const std::vector<cv::Mat>& rgb_images) {
    return grams(rgb_images, style_layer_presets().front());
  }
};

/// Writes tiny random weights (fixed seed, same key layout and layer structure as torchvision's
/// vgg19, fewer channels) as DIR/vgg19.safetensors. Returns the path written.
std::string write_tiny_vgg19(const std::string& dir);

/// Sets libtorch's intra-op thread count (0 = number of cores). Returns the count in force.
int set_torch_threads(int n);
/// "libtorch 1.13.1 (cpu)" and the like, for provenance.
std::string torch_description();
/// The float32 GEMM rate (GFLOP/s) libtorch reaches here on the threads in force: the best of
/// repeated n x n by n x n products over at least `min_seconds` (the peak bench/score_bench.sh
/// reads the models' rates against). `onednn`: the same product as a 1x1 convolution in
/// channels_last, which libtorch hands to oneDNN (as VGG19's convolutions); else at::mm (BLAS).
double gemm_gflops(int n, double min_seconds, bool onednn);

}  // namespace ghx::models
