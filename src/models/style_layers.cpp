#include "models/style_layers.h"

#include <algorithm>
#include <iterator>

#include "util/error.h"
#include "util/strings.h"

namespace ghx::models {

const std::vector<StyleLayers>& style_layer_presets() {
  static const std::vector<StyleLayers> presets = {
      {"ghostreview", {0, 5, 10, 19, 28}},
      {"gatys", {1, 6, 11, 20, 29}},
      {"tutorial", {0, 2, 5, 7, 10}},
  };
  return presets;
}

const StyleLayers& style_layers(const std::string& name) {
  std::vector<std::string> names;
  for (const StyleLayers& l : style_layer_presets()) {
    if (l.name == name) return l;
    names.push_back("'" + l.name + "'");
  }
  throw Error("style layers must be " + util::join(names, ", ") + ", not '" + name + "'");
}

std::string style_layers_text(const StyleLayers& l) {
  std::string s = l.name + ":";
  for (std::size_t i = 0; i < l.features.size(); ++i) s += (i ? "," : "") + std::to_string(l.features[i]);
  return s;
}

StyleLayers parse_style_layers(const std::string& text) {
  static const int convs[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28};
  const auto bad = [&](const std::string& why) -> Error { return Error("style layers '" + text + "': " + why); };
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0) throw bad("expected NAME:I,J,...");
  StyleLayers l{text.substr(0, colon), {}};
  for (const std::string& f : util::split(text.substr(colon + 1), ',')) {
    int v = -1;
    if (f.empty() || f.size() > 2 || !std::all_of(f.begin(), f.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw bad("'" + f + "' is not a layer index");
    v = std::stoi(f);
    const bool conv = std::find(std::begin(convs), std::end(convs), v) != std::end(convs);
    const bool relu = std::find(std::begin(convs), std::end(convs), v - 1) != std::end(convs);
    if (!conv && !relu) throw bad(std::to_string(v) + " is neither a conv nor a ReLU of vgg19 features[:30]");
    if (!l.features.empty() && v <= l.features.back()) throw bad("indices must increase");
    l.features.push_back(v);
  }
  if (l.features.empty()) throw bad("no layer");
  return l;
}

}  // namespace ghx::models
