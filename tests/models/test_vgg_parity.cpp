// Parity of models::Vgg19Style + style_loss with torchvision: tests/data/vgg/ holds a small VGG
// with vgg19's layer structure (channels / 8) as a torch.save .pth (F16) and as safetensors
// (BF16; the same float weights), five PNGs, and expected.json computed by torch in float32 by
// tests/models/make_vgg_fixture.py. Every loss, both variants, from both files, must match to
// 1e-4 relative; so must each layer's Gram Frobenius norm.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/style.h"
#include "models/weights.h"

using ghx::models::GramSet;
using ghx::models::StyleVariant;
using ghx::models::Vgg19Style;

namespace {

std::string vgg_fixture(const std::string& name) { return std::string(GHX_TEST_DATA) + "/vgg/" + name; }

nlohmann::json expected() {
  std::ifstream in(vgg_fixture("expected.json"));
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

cv::Mat load_rgb(const std::string& name, int rows, int cols) {
  cv::Mat bgr = cv::imread(vgg_fixture(name), cv::IMREAD_COLOR);
  INFO(name);
  REQUIRE_FALSE(bgr.empty());
  REQUIRE(bgr.rows == rows);  // no resize: the fixture's sizes already agree
  REQUIRE(bgr.cols == cols);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

double frobenius(const std::vector<float>& g) {
  double s = 0.0;
  for (float v : g) s += static_cast<double>(v) * v;
  return std::sqrt(s);
}

double rel_err(double got, double want) { return std::abs(got - want) / std::max(std::abs(want), 1e-30); }

}  // namespace

TEST_CASE("Vgg19Style parity with torchvision: .pth and safetensors, both loss variants", "[models][style][parity]") {
  const nlohmann::json e = expected();
  const int rows = e.at("height").get<int>(), cols = e.at("width").get<int>();
  const auto image_names = e.at("images").get<std::vector<std::string>>();
  const auto target_names = e.at("targets").get<std::vector<std::string>>();
  std::vector<cv::Mat> images, targets;
  for (const auto& n : image_names) images.push_back(load_rgb(n, rows, cols));
  for (const auto& n : target_names) targets.push_back(load_rgb(n, rows, cols));

  // The fixture is what it claims: a torch.save archive (F16) and a safetensors file (BF16).
  const auto pth = ghx::models::WeightFile::open(vgg_fixture("vgg19_small.pth"));
  const auto st = ghx::models::WeightFile::open(vgg_fixture("vgg19_small.safetensors"));
  REQUIRE(pth.format() == ghx::models::WeightFormat::torch_zip);
  REQUIRE(st.format() == ghx::models::WeightFormat::safetensors);
  REQUIRE(pth.info("features.28.weight").dtype == ghx::models::Dtype::f16);
  REQUIRE(st.info("features.28.weight").dtype == ghx::models::Dtype::bf16);
  REQUIRE(pth.contains("classifier.0.weight"));  // an extra key the loader ignores
  REQUIRE(st.contains("classifier.0.weight"));

  double max_rel_loss = 0.0, max_rel_gram = 0.0;
  std::map<std::string, std::vector<GramSet>> per_file;
  for (const std::string file : {"vgg19_small.pth", "vgg19_small.safetensors"}) {
    INFO(file);
    const auto model = Vgg19Style::load(vgg_fixture(file));
    const std::vector<GramSet> gi = model->grams(images);
    const std::vector<GramSet> gt = model->grams(targets);
    REQUIRE(gi.size() == images.size());
    REQUIRE(gt.size() == targets.size());

    // Layer shapes and per-layer Gram norms.
    const auto& layers = e.at("layers");
    auto check_grams = [&](const GramSet& g, const std::string& name) {
      INFO(name);
      REQUIRE(g.channels.size() == layers.size());
      const auto& want = e.at("gram_frobenius").at(name);
      for (std::size_t l = 0; l < layers.size(); ++l) {
        INFO("layer " << layers[l].at("index"));
        REQUIRE(g.channels[l] == layers[l].at("channels").get<int>());
        REQUIRE(g.sizes[l] == layers[l].at("size").get<double>());
        const double err = rel_err(frobenius(g.grams[l]), want.at(l).get<double>());
        max_rel_gram = std::max(max_rel_gram, err);
        CHECK(err < 1e-4);
      }
    };
    for (std::size_t i = 0; i < gi.size(); ++i) check_grams(gi[i], image_names[i]);
    for (std::size_t t = 0; t < gt.size(); ++t) check_grams(gt[t], target_names[t]);

    for (const auto& [variant, key] :
         {std::pair{StyleVariant::ghostreview, "ghostreview"}, std::pair{StyleVariant::normalized, "normalized"}}) {
      const auto& want = e.at("losses").at(key);
      REQUIRE(want.size() == images.size());
      for (std::size_t i = 0; i < images.size(); ++i) {
        for (std::size_t t = 0; t < targets.size(); ++t) {
          const double got = ghx::models::style_loss(gi[i], gt[t], variant);
          const double w = want.at(i).at(t).get<double>();
          const double err = rel_err(got, w);
          max_rel_loss = std::max(max_rel_loss, err);
          INFO(key << " " << image_names[i] << " vs " << target_names[t] << ": " << got << ", torch " << w
                   << ", relative error " << err);
          CHECK(w > 0.0);
          CHECK(err < 1e-4);
        }
      }
    }
    per_file[file] = gi;
  }
  // Same float weights in both files: the same Grams, bit for bit.
  const auto& a = per_file.at("vgg19_small.pth");
  const auto& b = per_file.at("vgg19_small.safetensors");
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i].grams == b[i].grams);
  INFO("max relative error: losses " << max_rel_loss << ", Gram norms " << max_rel_gram);
  CHECK(max_rel_loss < 1e-4);
}
