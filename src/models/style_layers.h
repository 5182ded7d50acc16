#pragma once
// Style layer presets: where the style loss reads VGG19, by name. Torch- and OpenCV-free, so
// the review loader can check a name without the model's headers.
// Fails: throws ghx::Error naming the presets or the bad index. Never: holds state.
#include <string>
#include <vector>

namespace ghx::models {

/// Where the style loss reads the network, as torchvision `features` indices in increasing
/// order: a conv's index is its output before the ReLU (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23,
/// 25, 28), the index after it the ReLU's output (1, 3, ..., 29).
struct StyleLayers {
  std::string name;
  std::vector<int> features;
};
/// The presets, the default first: "ghostreview" (conv1_1, conv2_1, conv3_1, conv4_1, conv5_1
/// before ReLU: 0, 5, 10, 19, 28), "gatys" (relu1_1 .. relu5_1: 1, 6, 11, 20, 29), "tutorial"
/// (the PyTorch neural-style tutorial's conv_1 .. conv_5: 0, 2, 5, 7, 10).
const std::vector<StyleLayers>& style_layer_presets();
/// The preset of that name; throws ghx::Error naming the presets.
const StyleLayers& style_layers(const std::string& name);
/// "NAME:I,J,..." as step keys hold it, and back (parse throws ghx::Error on a malformed text or
/// an index that is not a conv or ReLU output of features[:30]).
std::string style_layers_text(const StyleLayers& l);
StyleLayers parse_style_layers(const std::string& text);

}  // namespace ghx::models
