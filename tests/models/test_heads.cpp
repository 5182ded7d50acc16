// Mirrors src/models/heads.cpp: the improved-aesthetic-predictor against the goldens of
// tests/models/make_clip_fixture.py (an independent float64 python3-torch computation over the
// committed tiny head; no transformers / open_clip here), LAION v1 and the config-described MLPs
// against values worked out by hand, and the errors.
// Tolerance: the head runs in double over fp32 weights, like the float64 goldens: 1e-9.
#include <catch2/catch.hpp>

#include "support.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/clip.h"
#include "models/heads.h"
#include "models/safetensors.h"
#include "util/error.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ghx::Error;
using ghx::models::FloatTensor;
using ghx::models::HeadInput;
using ghx::models::ScoreHead;
using nlohmann::json;

namespace {

using ghx::test::Scratch;
using ghx::test::slurp;
using ghx::test::spit;

const std::string k_dir = std::string(GHX_TEST_DATA) + "/clip";

const json& expected() {
  static const json j = json::parse(slurp(k_dir + "/expected.json"));
  return j;
}

std::vector<std::vector<float>> golden_embeddings(const std::string& activation) {
  std::vector<std::vector<float>> out;
  for (const auto& row : expected()["activations"][activation]["image_projected"]) {
    std::vector<float> v;
    for (const auto& x : row) v.push_back(static_cast<float>(x.get<double>()));
    out.push_back(v);
  }
  return out;
}

FloatTensor tensor(std::vector<std::int64_t> shape, std::vector<float> data) {
  return FloatTensor{std::move(shape), std::move(data)};
}

}  // namespace

TEST_CASE("heads: improved-aesthetic-predictor matches the independent goldens",
          "[models][heads]") {
  for (const std::string& file : std::vector<std::string>{"aesthetic.safetensors", "aesthetic.pth"}) {
    INFO(file);
    auto head = ScoreHead::load(k_dir + "/" + file);
    CHECK(head->input() == HeadInput::projected);
    CHECK(head->input_dim() == 16);
    for (const std::string& act : std::vector<std::string>{"quick_gelu", "gelu"}) {
      // The goldens were computed on the float64 embeddings; these are their fp32 roundings,
      // which moves a score by ~1e-7 at most.
      const auto scores = head->score(golden_embeddings(act));
      const auto& want = expected()["activations"][act]["aesthetic"];
      REQUIRE(scores.size() == want.size());
      for (std::size_t i = 0; i < scores.size(); ++i)
        CHECK(scores[i] == Approx(want[i].get<double>()).epsilon(0).margin(1e-6));
    }
  }
}

TEST_CASE("heads: scores use the L2-normalised input, a zero vector counts as norm 1",
          "[models][heads]") {
  auto head = ScoreHead::load(k_dir + "/aesthetic.safetensors");
  auto e = golden_embeddings("quick_gelu");
  std::vector<float> doubled = e[0];
  for (float& v : doubled) v *= 2;  // exact in binary
  const auto s = head->score({e[0], doubled, std::vector<float>(16, 0.0f)});
  CHECK(s[0] == Approx(s[1]).epsilon(1e-12));
  CHECK(std::isfinite(s[2]));
  CHECK(s[2] == Approx(expected()["aesthetic_zero"].get<double>()).epsilon(0).margin(1e-9));
  CHECK(head->score({}).empty());
  CHECK_THROWS_WITH(head->score({std::vector<float>(15)}),
                    Contains("aesthetic.safetensors") && Contains("embedding 0 has 15 values") &&
                        Contains("16"));
}

TEST_CASE("heads: LAION aesthetic v1 is one Linear over the normalised embedding",
          "[models][heads]") {
  Scratch s("v1");
  const std::string p = s.path + "/v1.safetensors";
  ghx::models::write_safetensors(p, {{"weight", tensor({1, 4}, {1.0f, 2.0f, -1.0f, 0.5f})},
                                     {"bias", tensor({1}, {0.25f})}});
  auto head = ScoreHead::load(p);
  CHECK(head->input() == HeadInput::projected);
  CHECK(head->input_dim() == 4);
  // [3, 4, 0, 0] / 5 = [0.6, 0.8, 0, 0]: 0.6 + 1.6 + 0.25.
  const auto sc = head->score({{3, 4, 0, 0}, {0, 0, 0, 0}});
  CHECK(sc[0] == Approx(2.45).epsilon(1e-12));
  CHECK(sc[1] == Approx(0.25).epsilon(1e-12));

  ghx::models::write_safetensors(p, {{"weight", tensor({2, 4}, std::vector<float>(8))},
                                     {"bias", tensor({2}, {0, 0})}});
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(p) && Contains("'weight'") && Contains("[2, 4]"));
  ghx::models::write_safetensors(p, {{"weight", tensor({1, 4}, std::vector<float>(4))}});
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(p) && Contains("'bias'"));
}

TEST_CASE("heads: a ghx JSON config describes other MLPs (input, sizes, relu, output)",
          "[models][heads]") {
  Scratch s("json");
  const std::string p = s.path + "/rating.safetensors";
  // nn.Sequential(Linear(4, 3), ReLU(), Linear(3, 1)): Linear layers at indices 0 and 2.
  ghx::models::write_safetensors(
      p, {{"layers.0.weight", tensor({3, 4}, {1, 0, 0, 0,  0, -1, 0, 0,  1, 1, 1, 1})},
          {"layers.0.bias", tensor({3}, {0.0f, 0.0f, -1.0f})},
          {"layers.2.weight", tensor({1, 3}, {1.0f, 2.0f, 4.0f})},
          {"layers.2.bias", tensor({1}, {0.5f})}});
  spit(s.path + "/rating.json",
       R"({"input": "pooled", "layers": [4, 3, 1], "activation": "relu"})");
  auto head = ScoreHead::load(p);
  CHECK(head->input() == HeadInput::pooled);
  CHECK(head->input_dim() == 4);
  // x = [0.6, 0.8, 0, 0]: hidden = relu([0.6, -0.8, 0.4]) = [0.6, 0, 0.4]; 0.6 + 1.6 + 0.5.
  CHECK(head->score({{3, 4, 0, 0}})[0] == Approx(2.7).epsilon(1e-12));

  // Without the activation: [0.6, -0.8, 0.4] -> 0.6 - 1.6 + 1.6 + 0.5.
  spit(s.path + "/rating.json", R"({"input": "projected", "layers": [4, 3, 1], "activation": "none"})");
  head = ScoreHead::load(p);
  CHECK(head->input() == HeadInput::projected);
  CHECK(head->score({{3, 4, 0, 0}})[0] == Approx(1.1).epsilon(1e-12));

  // Output squashed to 1..10 (kenjiqq's sigmoid scorers): 1 + 9 * sigmoid(1.1).
  spit(s.path + "/rating.json", R"({"input": "pooled", "layers": [4, 3, 1], "output": "sigmoid_1_10"})");
  CHECK(ScoreHead::load(p)->score({{3, 4, 0, 0}})[0] ==
        Approx(1 + 9 / (1 + std::exp(-1.1))).epsilon(1e-12));

  // Config errors name the config file and the key.
  const std::string cfg = s.path + "/rating.json";
  spit(cfg, R"({"input": "pooled", "layers": [4, 5, 1]})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(cfg) && Contains("layers [4, 5, 1]") &&
                                            Contains("[4, 3, 1]"));
  spit(cfg, R"({"input": "text", "layers": [4, 3, 1]})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(cfg) && Contains("input") && Contains("\"text\""));
  spit(cfg, R"({"layers": [4, 3, 1]})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(cfg) && Contains("input: missing"));
  spit(cfg, R"({"input": "pooled", "layers": [4, 3, 2]})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(cfg) && Contains("layers") && Contains("must be 1"));
  spit(cfg, R"({"input": "pooled", "layers": [4, 3, 1], "activation": "tanh"})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(cfg) && Contains("activation") && Contains("tanh"));
  spit(cfg, R"({"input": "pooled", "layers": [4, 3, 1], "dropout": 0.2})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(cfg) && Contains("dropout: unknown key"));
  spit(cfg, "{\"input\": ");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(cfg) && Contains("not valid JSON"));
}

TEST_CASE("heads: kenjiqq aesthetics-scorer's own .config is understood", "[models][heads]") {
  Scratch s("kenjiqq");
  const std::string p = s.path + "/aesthetics_scorer_rating.safetensors";
  // use_activation true: Linear, ReLU, Dropout, Linear, ReLU, Dropout, ... -> 0, 3, 6, 9, 11.
  std::map<std::string, FloatTensor> t;
  const int idx[] = {0, 3, 6, 9, 11};
  const std::int64_t sizes[] = {4, 2, 2, 2, 2, 1};
  for (int i = 0; i < 5; ++i) {
    const std::int64_t in = sizes[i], out = sizes[i + 1];
    std::vector<float> w(static_cast<std::size_t>(in * out), 0.5f);
    t["layers." + std::to_string(idx[i]) + ".weight"] = tensor({out, in}, w);
    t["layers." + std::to_string(idx[i]) + ".bias"] = tensor({out}, std::vector<float>(out, -0.1f));
  }
  ghx::models::write_safetensors(p, t);
  spit(s.path + "/aesthetics_scorer_rating.config",
       R"({"input_size": 4, "use_activation": true, "dropout": 0.0, "hidden_dim": 2,
           "reduce_dims": false, "output_activation": "sigmoid"})");
  auto head = ScoreHead::load(p);
  CHECK(head->input() == HeadInput::pooled);
  // x = [1, 0, 0, 0]: h1 = relu(0.5 - 0.1) = 0.4 (x2); h2 = relu(0.4 - 0.1) = 0.3;
  // h3 = relu(0.3 - 0.1) = 0.2; h4 = relu(0.2 - 0.1) = 0.1; out = 0.1 - 0.1 = 0 -> 1 + 9 / 2.
  CHECK(head->score({{2, 0, 0, 0}})[0] == Approx(5.5).epsilon(1e-6));
  spit(s.path + "/aesthetics_scorer_rating.config", R"({"input_size": 768, "use_activation": true})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(".config") && Contains("input_size 768"));
  spit(s.path + "/aesthetics_scorer_rating.config", R"({"input_size": 4, "output_activation": "tanh"})");
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains("output_activation"));
}

TEST_CASE("heads: unrecognised or broken weights are errors naming the file and key",
          "[models][heads]") {
  Scratch s("errors");
  const std::string p = s.path + "/head.safetensors";
  // Linear layers where improved-aesthetic-predictor has none, and no config.
  ghx::models::write_safetensors(p, {{"layers.0.weight", tensor({1, 4}, std::vector<float>(4))},
                                     {"layers.0.bias", tensor({1}, {0})}});
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(p) && Contains("layers.{0}") &&
                                            Contains("layers.{0,2,4,6,7}") && Contains("head.json"));
  // The right indices, a broken chain.
  std::map<std::string, FloatTensor> t;
  const int idx[] = {0, 2, 4, 6, 7};
  const std::int64_t sizes[] = {16, 8, 4, 4, 2, 1};
  for (int i = 0; i < 5; ++i) {
    const std::int64_t in = sizes[i] == 4 && i == 3 ? 5 : sizes[i], out = sizes[i + 1];
    t["layers." + std::to_string(idx[i]) + ".weight"] = tensor({out, in}, std::vector<float>(in * out));
    t["layers." + std::to_string(idx[i]) + ".bias"] = tensor({out}, std::vector<float>(out));
  }
  ghx::models::write_safetensors(p, t);
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(p) && Contains("'layers.6.weight'") &&
                                            Contains("'layers.4.weight' gives 4"));
  t["layers.6.weight"] = tensor({2, 4}, std::vector<float>(8));
  t.erase("layers.7.bias");
  ghx::models::write_safetensors(p, t);
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(p) && Contains("layers.7.bias"));
  t["layers.7.bias"] = tensor({1}, {0});
  t["layers.7.weight"] = tensor({2, 2}, std::vector<float>(4));
  t["layers.7.bias"] = tensor({2}, {0, 0});
  ghx::models::write_safetensors(p, t);
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(p) && Contains("'layers.7.weight'") &&
                                            Contains("ends with 1"));
  // Neither kind.
  ghx::models::write_safetensors(p, {{"fc.weight", tensor({1, 4}, std::vector<float>(4))}});
  CHECK_THROWS_WITH(ScoreHead::load(p), Contains(p) && Contains("not a known score head"));
  CHECK_THROWS_WITH(ScoreHead::load(s.path + "/none.safetensors"), Contains("none.safetensors"));
}

TEST_CASE("heads: write_tiny_aesthetic gives a working head of the requested width",
          "[models][heads]") {
  Scratch s("tiny");
  const std::string p = ghx::models::write_tiny_aesthetic(s.path, 24);
  CHECK(p == s.path + "/aesthetic.safetensors");
  auto head = ScoreHead::load(p);
  CHECK(head->input_dim() == 24);
  std::vector<float> e(24);
  for (std::size_t i = 0; i < e.size(); ++i) e[i] = std::sin(static_cast<float>(i));
  const double sc = head->score({e})[0];
  CHECK(sc > 2);  // centred near 5 like the real 1..10 scale
  CHECK(sc < 8);
}
