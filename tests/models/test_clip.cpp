// Mirrors src/models/clip.cpp, clip_config.cpp and tiny_clip.cpp.
// Goldens (tests/data/clip/expected.json) come from tests/models/make_clip_fixture.py: an
// independent float64 PyTorch implementation of CLIP written from the published architecture
// (python3-torch; no Hugging Face transformers or open_clip is available here), cross-checked
// there against a second pass over the OpenAI-layout weights through PyTorch's own
// multi_head_attention_forward. The weights are write_tiny_clip's (committed, and checked below
// to be byte-identical to what the generator writes today).
//
// Tolerance: |got - want| <= 1e-4 * max(1, |want|): relative for values above 1, absolute below
// (an embedding component near 0 has no meaningful relative error). The C++ runs in fp32 (eps
// 6e-8) against float64 goldens; through two short towers the error is ~1e-6, so 1e-4 leaves two
// orders of margin while a real mistake (gelu for quick_gelu, a transposed projection, a wrong
// mask, a wrong scale) moves values by 1e-2 or more.
#include <catch2/catch.hpp>

#include "models/numerics.h"
#include "support.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
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
#include "models/style.h"
#include "util/error.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ghx::Error;
using ghx::models::clip_config;
using ghx::models::ClipConfig;
using ghx::models::ClipLayout;
using ghx::models::ClipModel;
using ghx::models::FloatTensor;
using ghx::models::ImageEmbedding;
using ghx::models::SafetensorsFile;
using nlohmann::json;

namespace {

using ghx::test::Scratch;
using ghx::test::slurp;
using ghx::test::spit;

constexpr int k_tiny_vocab = 320;  // the committed fixture's vocabulary size
constexpr double k_tol = 1e-4;

const std::string k_dir = std::string(GHX_TEST_DATA) + "/clip";

const json& expected() {
  static const json j = json::parse(slurp(k_dir + "/expected.json"));
  return j;
}

std::vector<std::vector<float>> pixels() {
  const SafetensorsFile f = SafetensorsFile::open(k_dir + "/inputs.safetensors");
  const std::vector<float> all = f.to_float("pixels");
  const auto& shape = f.info("pixels").shape;  // [3, 3, 32, 32]
  const std::size_t per = all.size() / static_cast<std::size_t>(shape[0]);
  std::vector<std::vector<float>> out;
  for (std::int64_t i = 0; i < shape[0]; ++i)
    out.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(i * per),
                     all.begin() + static_cast<std::ptrdiff_t>((i + 1) * per));
  return out;
}

std::vector<std::vector<int32_t>> ids() { return expected()["ids"].get<std::vector<std::vector<int32_t>>>(); }
std::vector<int32_t> eots() { return expected()["eot"].get<std::vector<int32_t>>(); }

// max over all components of |got - want| / max(1, |want|).
double max_error(const std::vector<std::vector<float>>& got, const json& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].size() == want[i].size());
    for (std::size_t j = 0; j < got[i].size(); ++j) {
      const double w = want[i][j].get<double>();
      worst = std::max(worst, std::abs(got[i][j] - w) / std::max(1.0, std::abs(w)));
    }
  }
  return worst;
}

std::vector<std::vector<float>> projected(const std::vector<ImageEmbedding>& e) {
  std::vector<std::vector<float>> out;
  for (const auto& x : e) out.push_back(x.projected);
  return out;
}
std::vector<std::vector<float>> pooled(const std::vector<ImageEmbedding>& e) {
  std::vector<std::vector<float>> out;
  for (const auto& x : e) out.push_back(x.pooled);
  return out;
}

ClipConfig tiny_config() { return clip_config(k_dir + "/clip_config.json"); }

// Checks one model against the goldens of one activation.
void check_goldens(ClipModel& m, const std::string& activation, const std::string& what) {
  const json& want = expected()["activations"][activation];
  const auto images = m.encode_images(pixels());
  const auto texts = m.encode_texts(ids(), eots());
  const double e_proj = max_error(projected(images), want["image_projected"]);
  const double e_pool = max_error(pooled(images), want["image_pooled"]);
  const double e_text = max_error(texts, want["text"]);
  INFO(what << " " << activation << ": max error projected " << e_proj << ", pooled " << e_pool
            << ", text " << e_text);
  CHECK(e_proj < k_tol);
  CHECK(e_pool < k_tol);
  CHECK(e_text < k_tol);
}

// The fixture's tensors as floats, for making broken copies.
std::map<std::string, FloatTensor> fixture_tensors() {
  const SafetensorsFile f = SafetensorsFile::open(k_dir + "/clip.safetensors");
  std::map<std::string, FloatTensor> out;
  for (const auto& name : f.names()) out[name] = FloatTensor{f.info(name).shape, f.to_float(name)};
  return out;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
           return std::memcmp(&x, &y, sizeof x) == 0;
         });
}

}  // namespace

TEST_CASE("clip config: known architectures carry their published sizes and constants",
          "[models][clip]") {
  const ClipConfig b = clip_config("ViT-B/32");
  CHECK(b.vision.layers == 12);
  CHECK(b.vision.width == 768);
  CHECK(b.vision.heads == 12);
  CHECK(b.vision.mlp == 3072);
  CHECK(b.patch_size == 32);
  CHECK(b.text.layers == 12);
  CHECK(b.text.width == 512);
  CHECK(b.text.heads == 8);
  CHECK(b.projection_dim == 512);
  CHECK(b.activation == "quick_gelu");
  CHECK(b.mean[0] == Approx(0.48145466f));

  const ClipConfig l = clip_config("ViT-L/14");
  CHECK(l.vision.layers == 24);
  CHECK(l.vision.width == 1024);
  CHECK(l.vision.heads == 16);
  CHECK(l.patch_size == 14);
  CHECK(l.text.width == 768);
  CHECK(l.text.heads == 12);
  CHECK(l.projection_dim == 768);
  CHECK(l.activation == "quick_gelu");
  CHECK(l.context == 77);
  CHECK(l.vocab_size == 49408);
  CHECK(l.image_size == 224);
  CHECK(clip_config("vit-l-14").name == "ViT-L/14");  // open_clip's spelling

  const ClipConfig h = clip_config("ViT-H/14");
  CHECK(h.vision.layers == 32);
  CHECK(h.vision.width == 1280);
  CHECK(h.vision.heads == 16);
  CHECK(h.vision.mlp == 5120);
  CHECK(h.text.layers == 24);
  CHECK(h.text.width == 1024);
  CHECK(h.text.heads == 16);
  CHECK(h.projection_dim == 1024);
  CHECK(h.activation == "gelu");  // LAION weights
  CHECK(h.std[2] == Approx(0.27577711f));

  const ClipConfig laion = clip_config("ViT-L/14-laion2b");
  CHECK(laion.activation == "gelu");
  CHECK(laion.mean == std::array<float, 3>{0.5f, 0.5f, 0.5f});
  CHECK(laion.std == std::array<float, 3>{0.5f, 0.5f, 0.5f});
}

TEST_CASE("clip config: a Hugging Face config.json is read, with HF defaults and mean/std",
          "[models][clip]") {
  const ClipConfig c = tiny_config();
  CHECK(c.vision.width == 32);
  CHECK(c.vision.layers == 2);
  CHECK(c.vision.heads == 4);
  CHECK(c.vision.mlp == 64);
  CHECK(c.text.width == 24);
  CHECK(c.text.mlp == 96);
  CHECK(c.image_size == 32);
  CHECK(c.patch_size == 8);
  CHECK(c.context == 77);
  CHECK(c.vocab_size == k_tiny_vocab);
  CHECK(c.projection_dim == 16);
  CHECK(c.activation == "quick_gelu");
  CHECK(c.mean[1] == Approx(0.4578275f));  // none in the file: OpenAI's

  Scratch s("config");
  // Only the non-default keys, as recent transformers versions write them.
  spit(s.path + "/config.json", R"({"projection_dim": 768,
      "text_config": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072,
                      "hidden_act": "gelu"},
      "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                        "intermediate_size": 4096, "patch_size": 14, "hidden_act": "gelu"}})");
  spit(s.path + "/preprocessor_config.json",
       R"({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.25, 0.5]})");
  const ClipConfig d = clip_config(s.path + "/config.json");
  CHECK(d.vision.layers == 24);
  CHECK(d.text.layers == 12);  // HF default
  CHECK(d.context == 77);
  CHECK(d.vocab_size == 49408);
  CHECK(d.image_size == 224);
  CHECK(d.activation == "gelu");
  CHECK(d.name == s.path + "/config.json");
  CHECK(d.mean == std::array<float, 3>{0.5f, 0.5f, 0.5f});
  CHECK(d.std[1] == 0.25f);

  // config.json's own image_mean wins over the processor's.
  spit(s.path + "/config.json", R"({"image_mean": [0.1, 0.2, 0.3],
      "text_config": {}, "vision_config": {}})");
  const ClipConfig e = clip_config(s.path + "/config.json");
  CHECK(e.mean[2] == 0.3f);
  CHECK(e.std[1] == 0.25f);
  CHECK(e.vision.width == 768);  // CLIPVisionConfig's defaults (ViT-B/32)
}

TEST_CASE("clip config: bad files and unknown names are errors naming the file and the key",
          "[models][clip]") {
  Scratch s("badconfig");
  const std::string p = s.path + "/config.json";
  CHECK_THROWS_WITH(clip_config("ViT-X/99"),
                    Contains("unknown architecture 'ViT-X/99'") && Contains("ViT-L/14"));
  CHECK_THROWS_WITH(clip_config(s.path + "/missing.json"),
                    Contains(s.path + "/missing.json") && Contains("no such file"));
  spit(p, "{\"text_config\": {");
  CHECK_THROWS_WITH(clip_config(p), Contains(p) && Contains("not valid JSON"));
  spit(p, "[1, 2]");
  CHECK_THROWS_WITH(clip_config(p), Contains(p) && Contains("object"));
  spit(p, R"({"text_config": {}})");
  CHECK_THROWS_WITH(clip_config(p), Contains(p) && Contains("vision_config") && Contains("missing"));
  spit(p, R"({"text_config": {}, "vision_config": {"hidden_size": "wide"}})");
  CHECK_THROWS_WITH(clip_config(p), Contains(p) && Contains("vision_config.hidden_size") &&
                                        Contains("\"wide\""));
  spit(p, R"({"text_config": {"num_hidden_layers": -2}, "vision_config": {}})");
  CHECK_THROWS_WITH(clip_config(p), Contains("text_config.num_hidden_layers"));
  spit(p, R"({"text_config": {"hidden_size": 100, "num_attention_heads": 8}, "vision_config": {}})");
  CHECK_THROWS_WITH(clip_config(p), Contains("text_config.num_attention_heads") && Contains("100"));
  spit(p, R"({"text_config": {}, "vision_config": {"hidden_act": "relu"}})");
  CHECK_THROWS_WITH(clip_config(p), Contains("vision_config.hidden_act") && Contains("relu"));
  spit(p, R"({"text_config": {"hidden_act": "gelu"}, "vision_config": {}})");
  CHECK_THROWS_WITH(clip_config(p), Contains("text_config.hidden_act"));
  spit(p, R"({"text_config": {}, "vision_config": {"image_size": 100, "patch_size": 14}})");
  CHECK_THROWS_WITH(clip_config(p), Contains("vision_config.patch_size"));
  spit(p, R"({"text_config": {}, "vision_config": {}, "image_std": [0.5, 0, 0.5]})");
  CHECK_THROWS_WITH(clip_config(p), Contains(p) && Contains("image_std"));
  spit(p, R"({"text_config": {}, "vision_config": {}, "projection_dim": 1.5})");
  CHECK_THROWS_WITH(clip_config(p), Contains("projection_dim"));
}

TEST_CASE("clip: the committed tiny fixture is exactly what write_tiny_clip writes",
          "[models][clip]") {
  Scratch s("tiny");
  const std::string path = ghx::models::write_tiny_clip(s.path, k_tiny_vocab);
  CHECK(path == s.path + "/clip.safetensors");
  CHECK(slurp(path) == slurp(k_dir + "/clip.safetensors"));
  CHECK(slurp(s.path + "/clip_config.json") == slurp(k_dir + "/clip_config.json"));
  const std::string head = ghx::models::write_tiny_aesthetic(s.path, 16);
  CHECK(slurp(head) == slurp(k_dir + "/aesthetic.safetensors"));
  // And it loads with its own config.
  auto m = ClipModel::load(path, clip_config(s.path + "/clip_config.json"));
  CHECK(m->encode_images(pixels()).size() == 3);
}

// Regenerates the generator-written half of the fixture; then run make_clip_fixture.py.
TEST_CASE("clip: write the tiny fixture weights into tests/data/clip", "[.make_clip_fixture]") {
  ghx::models::write_tiny_clip(k_dir, k_tiny_vocab);
  ghx::models::write_tiny_aesthetic(k_dir, 16);
}

TEST_CASE("clip: both weight layouts match the independent goldens (quick_gelu)",
          "[models][clip]") {
  const ClipConfig c = tiny_config();
  auto hf = ClipModel::load(k_dir + "/clip.safetensors", c);
  CHECK(hf->config().activation == "quick_gelu");
  check_goldens(*hf, "quick_gelu", "HF layout");
  auto oa = ClipModel::load(k_dir + "/clip_openai.safetensors", c);
  check_goldens(*oa, "quick_gelu", "OpenAI layout");
  auto forced = ClipModel::load(k_dir + "/clip_openai.safetensors", c, ClipLayout::openai);
  check_goldens(*forced, "quick_gelu", "OpenAI layout (explicit)");
  auto pth = ClipModel::load(k_dir + "/clip_openai.pth", c);
  check_goldens(*pth, "quick_gelu", "OpenAI layout, torch.save .pth");
  auto jit = ClipModel::load(k_dir + "/clip_openai.jit.pt", c);
  check_goldens(*jit, "quick_gelu", "OpenAI layout, torch.jit.save archive");
}

TEST_CASE("clip: gelu and quick_gelu differ and each matches its goldens", "[models][clip]") {
  const ClipConfig c = tiny_config();
  auto quick = ClipModel::load(k_dir + "/clip.safetensors", c);
  auto gelu = ClipModel::load(k_dir + "/clip.safetensors", c, ClipLayout::automatic, "gelu");
  CHECK(gelu->config().activation == "gelu");
  check_goldens(*gelu, "gelu", "HF layout");
  auto gelu_oa = ClipModel::load(k_dir + "/clip_openai.safetensors", c, ClipLayout::automatic,
                                  "gelu");
  check_goldens(*gelu_oa, "gelu", "OpenAI layout");
  // A config saying gelu gives the same as the override.
  ClipConfig cg = c;
  cg.activation = "gelu";
  auto from_config = ClipModel::load(k_dir + "/clip.safetensors", cg);
  const auto a = gelu->encode_images(pixels());
  const auto b = from_config->encode_images(pixels());
  const auto q = quick->encode_images(pixels());
  double diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(bit_identical(a[i].projected, b[i].projected));
    for (std::size_t j = 0; j < a[i].projected.size(); ++j)
      diff = std::max(diff, static_cast<double>(std::abs(a[i].projected[j] - q[i].projected[j])));
  }
  INFO("max |gelu - quick_gelu| on the projected embeddings: " << diff);
  CHECK(diff > 5e-3);  // 0.015 for these weights; the tolerance is 1e-4
  CHECK_THROWS_WITH(ClipModel::load(k_dir + "/clip.safetensors", c, ClipLayout::automatic, "relu"),
                    Contains("unknown activation 'relu'"));
}

TEST_CASE("clip: results are bit-identical run to run and whatever the batch", "[models][clip]") {
  auto m = ClipModel::load(k_dir + "/clip.safetensors", tiny_config());
  const auto px = pixels();
  const auto first = m->encode_images(px);
  const auto again = m->encode_images(px);
  // 18 images: 6 copies of the 3 in one call.
  std::vector<std::vector<float>> many;
  for (int r = 0; r < 6; ++r) many.insert(many.end(), px.begin(), px.end());
  const auto big = m->encode_images(many);
  for (std::size_t i = 0; i < px.size(); ++i) {
    const auto single = m->encode_images({px[i]});
    CHECK(bit_identical(first[i].projected, again[i].projected));
    CHECK(bit_identical(first[i].pooled, again[i].pooled));
    CHECK(bit_identical(first[i].projected, single[0].projected));
    CHECK(bit_identical(first[i].pooled, single[0].pooled));
    for (int r = 0; r < 6; ++r) CHECK(bit_identical(first[i].projected, big[r * 3 + i].projected));
  }
  const auto t_ids = ids();
  const auto t_eot = eots();
  const auto texts = m->encode_texts(t_ids, t_eot);
  const auto texts_again = m->encode_texts(t_ids, t_eot);
  for (std::size_t i = 0; i < t_ids.size(); ++i) {
    const auto single = m->encode_texts({t_ids[i]}, {t_eot[i]});
    CHECK(bit_identical(texts[i], texts_again[i]));
    CHECK(bit_identical(texts[i], single[0]));
  }
  // Padding after EOT is never read (causal mask): shorter sequences give the same features.
  std::vector<int32_t> cut(t_ids[0].begin(), t_ids[0].begin() + t_eot[0] + 1);
  CHECK(bit_identical(m->encode_texts({cut}, {t_eot[0]})[0], texts[0]));
  CHECK(m->encode_images({}).empty());
  CHECK(m->encode_texts({}, {}).empty());
}

TEST_CASE("clip: a text's bits do not depend on the texts scored with it", "[models][clip]") {
  // Texts share a pass, each at its own length, their rows stacked (up to 2048 rows): 40 texts
  // of 2..77 tokens in three orders, in pairs, alone, and four times over (over 2048 rows: more
  // than one pass, each copy's texts at other places in theirs).
  const ClipConfig c = tiny_config();
  auto m = ClipModel::load(k_dir + "/clip.safetensors", c);
  std::vector<std::vector<int32_t>> t_ids;
  std::vector<int32_t> t_eot;
  for (int i = 0; i < 40; ++i) {
    const int eot = i < 21 ? 1 + i % 15 : 16 + (i * 7) % std::max(1, c.context - 16);
    std::vector<int32_t> seq(static_cast<std::size_t>(c.context), 0);
    for (int j = 0; j < eot; ++j) seq[static_cast<std::size_t>(j)] = (1 + 31 * i + 7 * j) % (c.vocab_size - 1);
    seq[static_cast<std::size_t>(eot)] = c.vocab_size - 1;
    t_ids.push_back(seq);
    t_eot.push_back(eot);
  }
  const auto all = m->encode_texts(t_ids, t_eot);
  auto rev_ids = t_ids;
  auto rev_eot = t_eot;
  std::reverse(rev_ids.begin(), rev_ids.end());
  std::reverse(rev_eot.begin(), rev_eot.end());
  const auto rev = m->encode_texts(rev_ids, rev_eot);
  std::vector<std::vector<int32_t>> odd_ids;
  std::vector<int32_t> odd_eot;
  for (std::size_t i = 1; i < t_ids.size(); i += 2) odd_ids.push_back(t_ids[i]), odd_eot.push_back(t_eot[i]);
  const auto odd = m->encode_texts(odd_ids, odd_eot);
  std::vector<std::vector<int32_t>> four_ids;
  std::vector<int32_t> four_eot;
  std::size_t rows = 0;
  for (int r = 0; r < 4; ++r)
    for (std::size_t i = 0; i < t_ids.size(); ++i) {
      four_ids.push_back(t_ids[i]);
      four_eot.push_back(t_eot[i]);
      rows += static_cast<std::size_t>(t_eot[i]) + 1;
    }
  REQUIRE(rows > 2048);
  const auto four = m->encode_texts(four_ids, four_eot);
  for (std::size_t i = 0; i < t_ids.size(); ++i) {
    INFO("text " << i << ", EOT " << t_eot[i]);
    const auto alone = m->encode_texts({t_ids[i]}, {t_eot[i]});
    CHECK(bit_identical(all[i], alone[0]));
    CHECK(bit_identical(rev[t_ids.size() - 1 - i], alone[0]));
    if (i % 2 == 1) CHECK(bit_identical(odd[i / 2], alone[0]));
    for (std::size_t r = 0; r < 4; ++r) CHECK(bit_identical(four[r * t_ids.size() + i], alone[0]));
    const std::size_t j = (i + 5) % t_ids.size();
    const auto pair = m->encode_texts({t_ids[j], t_ids[i]}, {t_eot[j], t_eot[i]});
    CHECK(bit_identical(pair[1], alone[0]));
  }
}

TEST_CASE("clip: missing keys, wrong shapes and wrong configs name the file and the key",
          "[models][clip]") {
  Scratch s("errors");
  const ClipConfig c = tiny_config();
  const std::string p = s.path + "/broken.safetensors";

  auto t = fixture_tensors();
  t.erase("vision_model.encoder.layers.1.mlp.fc2.bias");
  ghx::models::write_safetensors(p, t);
  CHECK_THROWS_WITH(ClipModel::load(p, c), Contains(p) && Contains("missing tensor") &&
                                               Contains("vision_model.encoder.layers.1.mlp.fc2.bias"));

  t = fixture_tensors();
  t["text_projection.weight"] = FloatTensor{{24, 16}, std::vector<float>(24 * 16)};  // transposed
  ghx::models::write_safetensors(p, t);
  CHECK_THROWS_WITH(ClipModel::load(p, c), Contains(p) && Contains("'text_projection.weight'") &&
                                               Contains("[24, 16]") && Contains("[16, 24]"));

  // The weights of another architecture.
  CHECK_THROWS_WITH(ClipModel::load(k_dir + "/clip.safetensors", clip_config("ViT-B/32")),
                    Contains("clip.safetensors") &&
                        Contains("vision_model.embeddings.patch_embedding.weight") &&
                        Contains("ViT-B/32"));
  CHECK_THROWS_WITH(ClipModel::load(k_dir + "/clip_openai.safetensors", clip_config("ViT-L/14")),
                    Contains("clip_openai.safetensors") && Contains("visual.conv1.weight"));
  // A config with fewer layers than the file.
  ClipConfig one = c;
  one.vision.layers = 1;
  CHECK_THROWS_WITH(ClipModel::load(k_dir + "/clip.safetensors", one),
                    Contains("vision_model.encoder.layers.1.layer_norm1.weight") &&
                        Contains("1 layers"));
  // The wrong layout forced.
  CHECK_THROWS_WITH(ClipModel::load(k_dir + "/clip.safetensors", c, ClipLayout::openai),
                    Contains("missing tensor 'visual.conv1.weight'") &&
                        Contains("OpenAI/open_clip layout"));
  // Not a CLIP at all.
  CHECK_THROWS_WITH(ClipModel::load(k_dir + "/aesthetic.safetensors", c),
                    Contains("aesthetic.safetensors") && Contains("not a CLIP"));
  CHECK_THROWS_WITH(ClipModel::load(s.path + "/nope.safetensors", c), Contains("nope.safetensors"));
  // An unsupported dtype.
  {
    std::map<std::string, ghx::models::RawTensor> raw;
    const SafetensorsFile f = SafetensorsFile::open(k_dir + "/clip.safetensors");
    for (const auto& name : f.names()) {
      const auto& info = f.info(name);
      raw[name] = ghx::models::RawTensor{
          info.dtype, info.shape,
          std::string(reinterpret_cast<const char*>(f.data(name)), info.end - info.begin)};
    }
    raw["visual_projection.weight"] = ghx::models::RawTensor{
        ghx::models::Dtype::i32, {16, 32}, std::string(16 * 32 * 4, '\0')};
    ghx::models::write_safetensors(p, raw);
    CHECK_THROWS_WITH(ClipModel::load(p, c),
                      Contains(p) && Contains("'visual_projection.weight'") && Contains("I32"));
  }
}

TEST_CASE("clip: bad inputs are errors, not crashes", "[models][clip]") {
  auto m = ClipModel::load(k_dir + "/clip.safetensors", tiny_config());
  CHECK_THROWS_WITH(m->encode_images({std::vector<float>(10)}),
                    Contains("image 0") && Contains("3 x 32 x 32"));
  auto i = ids();
  CHECK_THROWS_WITH(m->encode_texts(i, {1, 2}), Contains("EOT positions"));
  CHECK_THROWS_WITH(m->encode_texts({i[0]}, {77}), Contains("text 0") && Contains("EOT position 77"));
  CHECK_THROWS_WITH(m->encode_texts({std::vector<int32_t>(78, 1)}, {77}), Contains("78 tokens"));
  std::vector<int32_t> bad = i[0];
  bad[1] = k_tiny_vocab;
  CHECK_THROWS_WITH(m->encode_texts({bad}, {eots()[0]}),
                    Contains("token id 320 at position 1") && Contains("vocabulary"));
}

// Random weights of a known architecture's size (ViT-B/32 unless GHX_BENCH_ARCH names another),
// 8 images at 224 px, 8 texts: a speed figure, not a test.
//   [GHX_BENCH_ARCH=ViT-L/14] [GHX_BENCH_THREADS=n] [GHX_BENCH_IMAGES=0] ghx_tests "[.clip_bench]"
// (threads: ensure_torch_threads' choice, all cores, unless GHX_BENCH_THREADS is set).
TEST_CASE("clip: speed on random weights", "[.clip_bench]") {
  Scratch s("bench");
  const char* arch = std::getenv("GHX_BENCH_ARCH");
  const ClipConfig c = clip_config(arch ? arch : "ViT-B/32");
  const std::string weights = s.path + "/random.safetensors";
  {
    // Random values in the HF layout; their statistics do not matter for speed.
    std::map<std::string, FloatTensor> t;
    std::uint64_t state = 1;
    auto fill = [&](const std::string& name, std::vector<std::int64_t> shape) {
      std::size_t n = 1;
      for (auto d : shape) n *= static_cast<std::size_t>(d);
      FloatTensor f{std::move(shape), std::vector<float>(n)};
      for (float& v : f.data) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        v = (static_cast<float>(state >> 40) / 16777216.0f - 0.5f) * 0.05f;
      }
      t[name] = std::move(f);
    };
    auto tower = [&](const std::string& p, const ghx::models::ClipTowerConfig& tc) {
      const std::int64_t d = tc.width, m = tc.mlp;
      for (int i = 0; i < tc.layers; ++i) {
        const std::string b = p + std::to_string(i) + ".";
        for (const char* n : {"layer_norm1", "layer_norm2"}) {
          fill(b + n + ".weight", {d});
          fill(b + n + ".bias", {d});
        }
        for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
          fill(b + "self_attn." + n + ".weight", {d, d});
          fill(b + "self_attn." + n + ".bias", {d});
        }
        fill(b + "mlp.fc1.weight", {m, d});
        fill(b + "mlp.fc1.bias", {m});
        fill(b + "mlp.fc2.weight", {d, m});
        fill(b + "mlp.fc2.bias", {d});
      }
    };
    const std::int64_t dv = c.vision.width, dt = c.text.width, p = c.patch_size;
    const std::int64_t g = c.image_size / c.patch_size;
    fill("vision_model.embeddings.patch_embedding.weight", {dv, 3, p, p});
    fill("vision_model.embeddings.class_embedding", {dv});
    fill("vision_model.embeddings.position_embedding.weight", {g * g + 1, dv});
    for (const char* n : {"vision_model.pre_layrnorm", "vision_model.post_layernorm"}) {
      fill(std::string(n) + ".weight", {dv});
      fill(std::string(n) + ".bias", {dv});
    }
    tower("vision_model.encoder.layers.", c.vision);
    fill("visual_projection.weight", {c.projection_dim, dv});
    fill("text_model.embeddings.token_embedding.weight", {c.vocab_size, dt});
    fill("text_model.embeddings.position_embedding.weight", {c.context, dt});
    fill("text_model.final_layer_norm.weight", {dt});
    fill("text_model.final_layer_norm.bias", {dt});
    tower("text_model.encoder.layers.", c.text);
    fill("text_projection.weight", {c.projection_dim, dt});
    ghx::models::write_safetensors(weights, t);
  }
  if (const char* n = std::getenv("GHX_BENCH_THREADS")) ghx::models::set_torch_threads(std::atoi(n));
  const auto t0 = std::chrono::steady_clock::now();
  auto m = ClipModel::load(weights, c);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<std::vector<float>> px(8, std::vector<float>(static_cast<std::size_t>(3 * c.image_size * c.image_size)));
  for (std::size_t i = 0; i < px.size(); ++i)
    for (std::size_t j = 0; j < px[i].size(); ++j) px[i][j] = static_cast<float>(((i * 7 + j * 13) % 255) / 127.0 - 1.0);
  std::vector<std::vector<int32_t>> tids(8, std::vector<int32_t>(77, 0));
  std::vector<int32_t> teot(8);
  for (int i = 0; i < 8; ++i) {
    teot[i] = 10 + 2 * i;
    tids[i][0] = 49406;
    for (int j = 1; j < teot[i]; ++j) tids[i][j] = 1000 + 37 * j + i;
    tids[i][teot[i]] = 49407;
  }
  auto time = [](auto&& f) {
    std::vector<double> v;
    f();  // warm-up
    for (int r = 0; r < 5; ++r) {
      const auto a = std::chrono::steady_clock::now();
      f();
      v.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(v.begin(), v.end());
    return v;
  };
  const char* images = std::getenv("GHX_BENCH_IMAGES");
  const auto vi = images && std::string(images) == "0" ? std::vector<double>(5, 0.0) : time([&] { m->encode_images(px); });
  const auto vt = time([&] { m->encode_texts(tids, teot); });
  std::printf("%s load %.2f s; 8 images 224px: median %.3f s (min %.3f, max %.3f); "
              "8 texts (EOT 10..24): median %.4f s\n",
              c.name.c_str(), load_s, vi[2], vi[0], vi[4], vt[2]);
}

TEST_CASE("clip: results are bit-identical with 1 to 3 ATen threads (threads enter no key)", "[models][clip]") {
  auto m = ClipModel::load(k_dir + "/clip.safetensors", tiny_config());
  // ATen's threads (set_torch_threads) do not change a bit; OpenBLAS's do, so the module sets
  // them to the count the keys name (numerics.h blas_threads) and this checks it did.
  if (void* h = dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD)) {
    using GetThreads = int (*)();
    const auto get = reinterpret_cast<GetThreads>(dlsym(h, "openblas_get_num_threads"));
    REQUIRE(get);
    CHECK(get() == std::min(ghx::models::blas_threads(), 64));
    dlclose(h);
  }
  std::vector<std::vector<float>> many;
  for (int r = 0; r < 4; ++r) {
    const auto px = pixels();
    many.insert(many.end(), px.begin(), px.end());
  }
  const auto t_ids = ids();
  const auto t_eot = eots();
  REQUIRE(ghx::models::set_torch_threads(1) == 1);
  const auto one = m->encode_images(many);
  const auto one_t = m->encode_texts(t_ids, t_eot);
  // 3: ATen's own chunks of work would leave scalar tails in the activations. Where oneDNN runs
  // the image tower (AVX-512 CPUs) only 1 and 2 threads were ever checked for its GEMMs.
  for (int threads : {2, 3}) {
    REQUIRE(ghx::models::set_torch_threads(threads) == threads);
    const auto two = m->encode_images(many);
    const auto two_t = m->encode_texts(t_ids, t_eot);
    INFO(threads << " threads");
    for (std::size_t i = 0; i < many.size() && (threads == 2 || !ghx::models::clip_linears_on_dnnl()); ++i) {
      CHECK(bit_identical(one[i].projected, two[i].projected));
      CHECK(bit_identical(one[i].pooled, two[i].pooled));
    }
    for (std::size_t i = 0; i < t_ids.size(); ++i) CHECK(bit_identical(one_t[i], two_t[i]));
  }
  ghx::models::set_torch_threads(0);
}
