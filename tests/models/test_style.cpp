// Mirrors src/models/style.cpp, vgg19.cpp and tiny.cpp: the style loss formula, the Gram cache
// format, the tiny weights, and Vgg19Style's Gram matrices against a naive double-precision
// forward pass written out here.
#include <catch2/catch.hpp>

#include "support.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <system_error>

#include <opencv2/core.hpp>

#include "models/safetensors.h"
#include "models/numerics.h"
#include "models/style.h"
#include "util/error.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ghx::Error;
using ghx::models::GramSet;
using ghx::models::StyleVariant;
using ghx::models::Vgg19Style;

namespace {

using ghx::test::Scratch;
using ghx::test::slurp;
using ghx::test::spit;

std::vector<cv::Mat> random_images(int n, int rows, int cols, std::uint64_t seed) {
  cv::RNG rng(seed);
  std::vector<cv::Mat> out;
  for (int i = 0; i < n; ++i) {
    cv::Mat m(rows, cols, CV_8UC3);
    rng.fill(m, cv::RNG::UNIFORM, 0, 256);
    out.push_back(m);
  }
  return out;
}

bool bit_identical(const GramSet& a, const GramSet& b) {
  if (a.channels != b.channels || a.sizes != b.sizes || a.grams.size() != b.grams.size()) return false;
  for (std::size_t l = 0; l < a.grams.size(); ++l)
    if (a.grams[l].size() != b.grams[l].size() ||
        std::memcmp(a.grams[l].data(), b.grams[l].data(), a.grams[l].size() * 4) != 0)
      return false;
  return true;
}

// Largest |a - b| over a layer, relative to the largest |b|.
double relative_error(const std::vector<float>& a, const std::vector<double>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / scale;
}

// ---- a naive VGG19 features[:29] in doubles, CHW ----

constexpr int k_convs[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28};

struct NaiveLayer {
  int index, in, out;
  std::vector<float> w, b;
};

struct Map3 {
  int c, h, w;
  std::vector<double> v;  // c * h * w
  double& at(int ci, int y, int x) { return v[(static_cast<std::size_t>(ci) * h + y) * w + x]; }
};

Map3 naive_conv(Map3& x, const NaiveLayer& l) {
  Map3 y{l.out, x.h, x.w, std::vector<double>(static_cast<std::size_t>(l.out) * x.h * x.w)};
  for (int o = 0; o < l.out; ++o)
    for (int r = 0; r < x.h; ++r)
      for (int c = 0; c < x.w; ++c) {
        double s = l.b[o];
        for (int i = 0; i < l.in; ++i)
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int yy = r + ky - 1, xx = c + kx - 1;
              if (yy < 0 || yy >= x.h || xx < 0 || xx >= x.w) continue;
              s += l.w[((static_cast<std::size_t>(o) * l.in + i) * 3 + ky) * 3 + kx] * x.at(i, yy, xx);
            }
        y.at(o, r, c) = s;
      }
  return y;
}

Map3 naive_pool(Map3& x) {
  Map3 y{x.c, x.h / 2, x.w / 2, {}};
  y.v.resize(static_cast<std::size_t>(y.c) * y.h * y.w);
  for (int c = 0; c < y.c; ++c)
    for (int r = 0; r < y.h; ++r)
      for (int q = 0; q < y.w; ++q)
        y.at(c, r, q) = std::max({x.at(c, 2 * r, 2 * q), x.at(c, 2 * r + 1, 2 * q),
                                  x.at(c, 2 * r, 2 * q + 1), x.at(c, 2 * r + 1, 2 * q + 1)});
  return y;
}

std::vector<double> naive_gram(const Map3& y) {
  const std::size_t hw = static_cast<std::size_t>(y.h) * y.w;
  std::vector<double> g(static_cast<std::size_t>(y.c) * y.c);
  for (int i = 0; i < y.c; ++i)
    for (int j = 0; j < y.c; ++j) {
      double s = 0;
      for (std::size_t p = 0; p < hw; ++p) s += y.v[i * hw + p] * y.v[j * hw + p];
      g[static_cast<std::size_t>(i) * y.c + j] = s;
    }
  return g;
}

// Grams (row-major C x C) of an RGB image at torchvision `features` indices: a conv's index
// before its ReLU, the next index after it (GhostReview's 0, 5, 10, 19, 28 by default).
std::vector<std::vector<double>> naive_grams(const std::vector<NaiveLayer>& layers, const cv::Mat& rgb,
                                             const std::vector<int>& features = {0, 5, 10, 19, 28}) {
  const auto wanted = [&](int i) { return std::find(features.begin(), features.end(), i) != features.end(); };
  const double mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  Map3 x{3, rgb.rows, rgb.cols, std::vector<double>(3u * rgb.rows * rgb.cols)};
  for (int r = 0; r < rgb.rows; ++r)
    for (int c = 0; c < rgb.cols; ++c)
      for (int k = 0; k < 3; ++k) x.at(k, r, c) = (rgb.at<cv::Vec3b>(r, c)[k] / 255.0 - mean[k]) / sd[k];
  std::vector<std::vector<double>> out;
  for (const auto& l : layers) {
    Map3 y = naive_conv(x, l);
    if (wanted(l.index)) out.push_back(naive_gram(y));
    for (double& v : y.v) v = std::max(v, 0.0);
    if (wanted(l.index + 1)) out.push_back(naive_gram(y));
    x = (l.index == 2 || l.index == 7 || l.index == 16 || l.index == 25) ? naive_pool(y) : std::move(y);
  }
  return out;
}

// A small VGG with `widths` channels per block; weights from a fixed cv::RNG.
std::vector<NaiveLayer> small_vgg(const std::vector<int>& widths, std::uint64_t seed) {
  const int block_of[] = {0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4};
  cv::RNG rng(seed);
  std::vector<NaiveLayer> layers;
  int in = 3;
  for (int k = 0; k < 13; ++k) {
    NaiveLayer l{k_convs[k], in, widths[block_of[k]], {}, {}};
    l.w.resize(static_cast<std::size_t>(l.out) * l.in * 9);
    l.b.resize(l.out);
    for (float& v : l.w) v = static_cast<float>(rng.gaussian(std::sqrt(2.0 / (9 * in))));
    for (float& v : l.b) v = static_cast<float>(rng.gaussian(0.1));
    layers.push_back(std::move(l));
    in = widths[block_of[k]];
  }
  return layers;
}

std::map<std::string, ghx::models::FloatTensor> as_tensors(const std::vector<NaiveLayer>& layers) {
  std::map<std::string, ghx::models::FloatTensor> t;
  for (const auto& l : layers) {
    const std::string p = "features." + std::to_string(l.index);
    t[p + ".weight"] = {{l.out, l.in, 3, 3}, l.w};
    t[p + ".bias"] = {{l.out}, l.b};
  }
  return t;
}

GramSet hand_set(std::vector<std::vector<float>> grams, std::vector<double> sizes) {
  GramSet g;
  for (const auto& m : grams) g.channels.push_back(static_cast<int>(std::lround(std::sqrt(m.size()))));
  g.sizes = std::move(sizes);
  g.grams = std::move(grams);
  return g;
}

}  // namespace

TEST_CASE("style_loss: per-layer mean squared difference, summed, both variants", "[models][style]") {
  const GramSet a = hand_set({{2.f}, {1.f, 2.f, 3.f, 4.f}}, {4.0, 8.0});
  const GramSet b = hand_set({{5.f}, {1.f, 0.f, 3.f, 8.f}}, {4.0, 8.0});
  // ghostreview: (2-5)^2 / 1 + (0 + 4 + 0 + 16) / 4 = 9 + 5.
  REQUIRE(ghx::models::style_loss(a, b, StyleVariant::ghostreview) == 14.0);
  // normalized: (2/4 - 5/4)^2 + (0 + (2/8)^2 + 0 + (4/8)^2) / 4 = 0.5625 + 0.078125.
  REQUIRE(ghx::models::style_loss(a, b, StyleVariant::normalized) == 0.640625);
  REQUIRE(ghx::models::style_loss(b, a, StyleVariant::ghostreview) == 14.0);
  REQUIRE(ghx::models::style_loss(a, a, StyleVariant::ghostreview) == 0.0);
  REQUIRE(ghx::models::style_loss(a, a, StyleVariant::normalized) == 0.0);

  // Each Gram is divided by its own C*H*W.
  const GramSet c = hand_set({{8.f}, {1.f, 2.f, 3.f, 4.f}}, {16.0, 8.0});
  REQUIRE(ghx::models::style_loss(a, c, StyleVariant::normalized) == 0.0);
  REQUIRE(ghx::models::style_loss(a, c, StyleVariant::ghostreview) == 36.0);

  const GramSet one_layer = hand_set({{2.f}}, {4.0});
  REQUIRE_THROWS_AS(ghx::models::style_loss(a, one_layer, StyleVariant::ghostreview), Error);
  const GramSet other_c = hand_set({{2.f, 0.f, 0.f, 0.f}, {1.f, 2.f, 3.f, 4.f}}, {4.0, 8.0});
  REQUIRE_THROWS_AS(ghx::models::style_loss(a, other_c, StyleVariant::ghostreview), Error);
  GramSet broken = a;
  broken.grams[1].pop_back();
  REQUIRE_THROWS_AS(ghx::models::style_loss(broken, a, StyleVariant::ghostreview), Error);
}

TEST_CASE("serialize_grams: exact round trip, every truncation and corruption is an Error",
          "[models][style]") {
  const GramSet g = hand_set({{1.5f}, {1.f, -2.f, 3.25f, 1e-30f}, std::vector<float>(9, 7.f)},
                             {12.0, 1e9, 0.1});
  const std::string bytes = ghx::models::serialize_grams(g);
  REQUIRE(bytes.size() == 12 + 3 * 12 + 4 * (1 + 4 + 9));
  REQUIRE(bytes.substr(0, 4) == "GXGM");
  REQUIRE(bytes.substr(4, 4) == std::string("\1\0\0\0", 4));  // format version 1, LE
  REQUIRE(bytes.substr(8, 4) == std::string("\3\0\0\0", 4));  // three layers
  const GramSet back = ghx::models::deserialize_grams(bytes);
  REQUIRE(bit_identical(back, g));
  REQUIRE(ghx::models::serialize_grams(back) == bytes);

  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    REQUIRE_THROWS_AS(ghx::models::deserialize_grams(bytes.substr(0, n)), Error);
  }
  REQUIRE_THROWS_WITH(ghx::models::deserialize_grams(bytes + "x"), Contains("trailing"));
  std::string bad = bytes;
  bad[0] = 'X';
  REQUIRE_THROWS_WITH(ghx::models::deserialize_grams(bad), Contains("magic"));
  bad = bytes;
  bad[4] = 2;
  REQUIRE_THROWS_WITH(ghx::models::deserialize_grams(bad), Contains("version 2"));
  bad = bytes;
  bad[12] = 0;  // first layer: zero channels
  REQUIRE_THROWS_AS(ghx::models::deserialize_grams(bad), Error);
  bad = bytes;
  bad[14] = 1;  // first layer: 65537 channels, far more than the buffer holds
  REQUIRE_THROWS_WITH(ghx::models::deserialize_grams(bad), Contains("layer 0"));

  GramSet inconsistent = g;
  inconsistent.sizes.pop_back();
  REQUIRE_THROWS_AS(ghx::models::serialize_grams(inconsistent), Error);
  REQUIRE(ghx::models::deserialize_grams(ghx::models::serialize_grams(GramSet{})).grams.empty());
}

TEST_CASE("write_tiny_vgg19: byte-identical every time, torchvision's keys", "[models][style]") {
  const Scratch scratch("tiny");
  const std::string& dir = scratch.path;
  const std::string p1 = ghx::models::write_tiny_vgg19(dir + "/one/nested");
  const std::string p2 = ghx::models::write_tiny_vgg19(dir + "/two");
  REQUIRE(p1 == dir + "/one/nested/vgg19.safetensors");
  const std::string bytes = slurp(p1);
  REQUIRE(!bytes.empty());
  REQUIRE(bytes == slurp(p2));
  ghx::models::write_tiny_vgg19(dir + "/two");  // overwrite in place
  REQUIRE(bytes == slurp(p2));

  const auto f = ghx::models::SafetensorsFile::open(p1);
  REQUIRE(f.names().size() == 26);
  std::int64_t in = 3;
  for (int idx : k_convs) {
    const std::string key = "features." + std::to_string(idx);
    const auto& w = f.info(key + ".weight").shape;
    REQUIRE(w.size() == 4);
    REQUIRE(w[1] == in);
    REQUIRE((w[2] == 3 && w[3] == 3));
    REQUIRE(f.info(key + ".bias").shape == std::vector<std::int64_t>{w[0]});
    in = w[0];
  }
}

TEST_CASE("Vgg19Style: Gram matrices match a naive double-precision forward pass", "[models][style]") {
  const Scratch scratch("naive");
  const std::string& dir = scratch.path;
  const auto layers = small_vgg({2, 3, 4, 5, 3}, 7);
  const std::string path = dir + "/small.safetensors";
  ghx::models::write_safetensors(path, as_tensors(layers));
  auto model = Vgg19Style::load(path);
  // 20x36: odd sizes after pooling (5, 9) exercise floor pooling; 3 images: a partial batch.
  const auto images = random_images(3, 20, 36, 11);
  const auto sets = model->grams(images);
  REQUIRE(sets.size() == 3);
  const int hs[] = {20, 10, 5, 2, 1}, ws[] = {36, 18, 9, 4, 2}, cs[] = {2, 3, 4, 5, 3};
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto want = naive_grams(layers, images[i]);
    REQUIRE(sets[i].grams.size() == 5);
    for (int l = 0; l < 5; ++l) {
      INFO("image " << i << " layer " << l);
      REQUIRE(sets[i].channels[l] == cs[l]);
      REQUIRE(sets[i].sizes[l] == double(cs[l]) * hs[l] * ws[l]);
      REQUIRE(sets[i].grams[l].size() == want[l].size());
      REQUIRE(relative_error(sets[i].grams[l], want[l]) < 1e-5);
    }
  }
}

TEST_CASE("Vgg19Style: every layer preset matches the naive forward pass at its own layers", "[models][style]") {
  const Scratch scratch("presets");
  const auto layers = small_vgg({2, 3, 4, 5, 3}, 9);
  const std::string path = scratch.path + "/small.safetensors";
  ghx::models::write_safetensors(path, as_tensors(layers));
  auto model = Vgg19Style::load(path);
  const auto images = random_images(2, 32, 48, 5);
  REQUIRE(ghx::models::style_layer_presets().size() == 3);
  REQUIRE(ghx::models::style_layer_presets().front().name == "ghostreview");  // the default
  const std::map<std::string, std::vector<int>> want_features = {
      {"ghostreview", {0, 5, 10, 19, 28}}, {"gatys", {1, 6, 11, 20, 29}}, {"tutorial", {0, 2, 5, 7, 10}}};
  std::map<std::string, std::vector<GramSet>> by_preset;
  for (const auto& [name, features] : want_features) {
    const ghx::models::StyleLayers& preset = ghx::models::style_layers(name);
    REQUIRE(preset.features == features);
    const auto sets = model->grams(images, preset);
    by_preset[name] = sets;
    for (std::size_t i = 0; i < images.size(); ++i) {
      const auto want = naive_grams(layers, images[i], features);
      REQUIRE(sets[i].grams.size() == features.size());
      for (std::size_t l = 0; l < features.size(); ++l) {
        INFO(name << " image " << i << " feature " << features[l]);
        REQUIRE(relative_error(sets[i].grams[l], want[l]) < 1e-5);
      }
    }
  }
  // The default overload is GhostReview's preset; the presets really differ (ReLU'd Grams have
  // no negative products, the tutorial's go no deeper than conv3_1).
  REQUIRE(bit_identical(model->grams(images)[0], by_preset["ghostreview"][0]));
  REQUIRE(bit_identical(model->grams({images[0]}, ghx::models::style_layers("tutorial"))[0], by_preset["tutorial"][0]));
  REQUIRE(by_preset["tutorial"][0].channels == std::vector<int>{2, 2, 3, 3, 4});
  for (float v : by_preset["gatys"][0].grams[0]) REQUIRE(v >= 0.0f);
  REQUIRE(ghx::models::style_loss(by_preset["gatys"][0], by_preset["gatys"][1], StyleVariant::ghostreview) !=
          ghx::models::style_loss(by_preset["ghostreview"][0], by_preset["ghostreview"][1], StyleVariant::ghostreview));
}

TEST_CASE("style layers: names, the key text and its parser", "[models][style]") {
  using ghx::models::parse_style_layers;
  using ghx::models::style_layers_text;
  REQUIRE(style_layers_text(ghx::models::style_layers("gatys")) == "gatys:1,6,11,20,29");
  for (const auto& p : ghx::models::style_layer_presets()) {
    const auto back = parse_style_layers(style_layers_text(p));
    REQUIRE(back.name == p.name);
    REQUIRE(back.features == p.features);
  }
  REQUIRE_THROWS_WITH(ghx::models::style_layers("vgg"), Contains("'ghostreview', 'gatys', 'tutorial'") && Contains("'vgg'"));
  REQUIRE_THROWS_WITH(parse_style_layers("gatys"), Contains("NAME:I,J"));
  REQUIRE_THROWS_WITH(parse_style_layers("x:"), Contains("not a layer index"));
  REQUIRE_THROWS_WITH(parse_style_layers("x:0,,5"), Contains("not a layer index"));
  REQUIRE_THROWS_WITH(parse_style_layers("x:4"), Contains("neither a conv nor a ReLU"));  // a max-pool
  REQUIRE_THROWS_WITH(parse_style_layers("x:30"), Contains("neither a conv nor a ReLU"));
  REQUIRE_THROWS_WITH(parse_style_layers("x:5,0"), Contains("increase"));
  REQUIRE_THROWS_WITH(parse_style_layers("x:-1"), Contains("not a layer index"));
  REQUIRE(parse_style_layers("own:3,29").features == std::vector<int>{3, 29});
}

TEST_CASE("Vgg19Style: tiny weights, determinism, batching, loss 0 only for the same image",
          "[models][style]") {
  const Scratch scratch("tiny_model");
  const std::string& dir = scratch.path;
  auto model = Vgg19Style::load(ghx::models::write_tiny_vgg19(dir));
  const auto images = random_images(5, 64, 48, 3);  // 5 images: two batches of 4 and 1
  const auto a = model->grams(images);
  const auto b = model->grams(images);
  REQUIRE(a.size() == 5);
  for (int i = 0; i < 5; ++i) REQUIRE(bit_identical(a[i], b[i]));
  REQUIRE(a[0].channels == std::vector<int>{8, 16, 32, 64, 64});
  REQUIRE(a[0].sizes == std::vector<double>{8 * 64 * 48, 16 * 32 * 24, 32 * 16 * 12, 64 * 8 * 6, 64 * 4 * 3});

  // An image's Grams do not depend on the batch it came in.
  const auto alone = model->grams({images[4]});
  REQUIRE(bit_identical(alone[0], a[4]));
  const auto reordered = model->grams({images[2], images[0]});
  REQUIRE(bit_identical(reordered[0], a[2]));
  REQUIRE(bit_identical(reordered[1], a[0]));

  // ... at the review sizes too, for every batch size and position (oneDNN picks its kernels by
  // shape: a batch of 3 must not round differently from a batch of 1). A resumed run batches
  // what is left; its results must be the uninterrupted run's, bit for bit.
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{96, 96}, {96, 128}, {224, 224}}) {
    const auto imgs = random_images(4, w, h, 7);
    const auto all = model->grams(imgs);
    for (std::size_t n = 1; n <= 3; ++n)
      for (std::size_t start = 0; start + n <= imgs.size(); ++start) {
        const auto part = model->grams(std::vector<cv::Mat>(imgs.begin() + start, imgs.begin() + start + n));
        for (std::size_t i = 0; i < n; ++i) {
          INFO(w << "x" << h << " batch of " << n << " from " << start << ", image " << i);
          REQUIRE(bit_identical(part[i], all[start + i]));
        }
      }
  }

  // Serialised through the cache format, the loss is unchanged.
  const GramSet cached = ghx::models::deserialize_grams(ghx::models::serialize_grams(a[1]));
  for (auto v : {StyleVariant::ghostreview, StyleVariant::normalized}) {
    REQUIRE(ghx::models::style_loss(a[0], b[0], v) == 0.0);
    REQUIRE(ghx::models::style_loss(a[0], a[1], v) > 0.0);
    REQUIRE(ghx::models::style_loss(a[0], cached, v) == ghx::models::style_loss(a[0], a[1], v));
  }
  // Gram matrices are symmetric positive semi-definite: |G_ij| <= sqrt(G_ii G_jj) (Cauchy-Schwarz),
  // G_ij = G_ji up to float rounding on that scale.
  for (int l = 0; l < 5; ++l) {
    const auto& g = a[0].grams[l];
    const int c = a[0].channels[l];
    for (int i = 0; i < c; ++i) {
      REQUIRE(g[i * c + i] > 0.f);
      for (int j = 0; j < i; ++j) {
        const double bound = std::sqrt(double(g[i * c + i]) * g[j * c + j]);
        REQUIRE(std::abs(g[i * c + j]) <= bound * (1 + 1e-5));
        REQUIRE(std::abs(g[i * c + j] - g[j * c + i]) <= bound * 1e-5);
      }
    }
  }
}

TEST_CASE("Vgg19Style: Grams are bit-identical with 1 to 3 ATen threads (threads enter no key)", "[models][style]") {
  // The tiny VGG19's real channel counts (8..64) in this machine's layout (channels_last or NCHW,
  // vgg_channels_last()), at a review's size (512x512: every layer large enough for ATen to hand
  // it to oneDNN, which splits the work by threads) and at a small one (deep layers below that).
  const Scratch scratch("threads");
  auto model = Vgg19Style::load(ghx::models::write_tiny_vgg19(scratch.path));
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{512, 512}, {96, 128}}) {
    const auto images = random_images(1, w, h, 11);
    REQUIRE(ghx::models::set_torch_threads(2) == 2);
    const auto two = model->grams(images);
    for (int threads : {1, 3}) {
      REQUIRE(ghx::models::set_torch_threads(threads) == threads);
      const auto other = model->grams(images);
      INFO(w << "x" << h << ", " << threads << " threads, channels_last " << ghx::models::vgg_channels_last());
      CHECK(bit_identical(other[0], two[0]));
    }
  }
  REQUIRE(ghx::models::set_torch_threads(0) >= 1);
}

TEST_CASE("Vgg19Style: F16, BF16 and misaligned F32 weights give the same Grams as aligned F32",
          "[models][style]") {
  const Scratch scratch("halfweights");
  const std::string& dir = scratch.path;
  auto layers = small_vgg({4, 4, 4, 4, 4}, 5);
  // Round every weight to 7 mantissa bits in the normal half range: exact in F16 and BF16.
  auto round7 = [](float v) {
    if (std::abs(v) < 1e-4f) return 0.f;
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    u &= 0xffff0000u;
    std::memcpy(&v, &u, 4);
    return v;
  };
  std::map<std::string, ghx::models::RawTensor> f16, bf16;
  for (auto& l : layers) {
    const std::string p = "features." + std::to_string(l.index);
    for (auto* vec : {&l.w, &l.b}) {
      std::string h, bf;
      for (float& v : *vec) {
        v = round7(v);
        std::uint32_t u;
        std::memcpy(&u, &v, 4);
        const std::uint16_t b16 = static_cast<std::uint16_t>(u >> 16);
        const int exp = static_cast<int>((u >> 23) & 0xff) - 127;
        const std::uint16_t h16 =
            v == 0.f ? 0
                     : static_cast<std::uint16_t>(((u >> 16) & 0x8000u) | ((exp + 15) << 10) |
                                                  ((u >> 13) & 0x3ffu));
        h.append(reinterpret_cast<const char*>(&h16), 2);
        bf.append(reinterpret_cast<const char*>(&b16), 2);
      }
      const std::string key = p + (vec == &l.w ? ".weight" : ".bias");
      std::vector<std::int64_t> shape = vec == &l.w ? std::vector<std::int64_t>{l.out, l.in, 3, 3}
                                                    : std::vector<std::int64_t>{l.out};
      f16[key] = {ghx::models::Dtype::f16, shape, h};
      bf16[key] = {ghx::models::Dtype::bf16, shape, bf};
    }
  }
  ghx::models::write_safetensors(dir + "/f32.safetensors", as_tensors(layers));
  ghx::models::write_safetensors(dir + "/f16.safetensors", f16);
  ghx::models::write_safetensors(dir + "/bf16.safetensors", bf16);
  // The same F32 file with its header re-padded to an odd length: every tensor is misaligned.
  {
    const std::string bytes = slurp(dir + "/f32.safetensors");
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    std::string header = bytes.substr(8, n);
    header.erase(header.find_last_not_of(' ') + 1);
    header.append(header.size() % 2 == 0 ? 1 : 2, ' ');  // odd length
    const std::uint64_t m = header.size();
    std::ofstream out(dir + "/odd.safetensors", std::ios::binary);
    out.write(reinterpret_cast<const char*>(&m), 8);
    out << header << bytes.substr(8 + n);
  }
  const auto images = random_images(2, 16, 16, 9);
  const auto want = Vgg19Style::load(dir + "/f32.safetensors")->grams(images);
  const auto from_odd = Vgg19Style::load(dir + "/odd.safetensors")->grams(images);
  const auto from_f16 = Vgg19Style::load(dir + "/f16.safetensors")->grams(images);
  const auto from_bf16 = Vgg19Style::load(dir + "/bf16.safetensors")->grams(images);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(bit_identical(from_f16[i], want[i]));
    REQUIRE(bit_identical(from_bf16[i], want[i]));
    REQUIRE(bit_identical(from_odd[i], want[i]));
  }
}

TEST_CASE("Vgg19Style: loader errors name the file and the key", "[models][style]") {
  const Scratch scratch("load_errors");
  const std::string& dir = scratch.path;
  const auto good = as_tensors(small_vgg({2, 2, 2, 2, 2}, 1));
  auto expect = [&](const std::string& name, std::map<std::string, ghx::models::FloatTensor> t,
                    const std::string& what) {
    const std::string path = dir + "/" + name + ".safetensors";
    ghx::models::write_safetensors(path, t);
    INFO(name);
    REQUIRE_THROWS_WITH(Vgg19Style::load(path), Contains(path) && Contains(what));
  };
  ghx::models::write_safetensors(dir + "/ok.safetensors", good);
  REQUIRE_NOTHROW(Vgg19Style::load(dir + "/ok.safetensors"));

  auto t = good;
  t.erase("features.28.bias");
  expect("missing", t, "missing tensor 'features.28.bias'");
  t = good;
  t["features.5.weight"] = {{2, 3, 3, 3}, std::vector<float>(54)};
  expect("chain", t, "features.5.weight");
  t = good;
  t["features.0.weight"] = {{2, 3, 5, 5}, std::vector<float>(150)};
  expect("kernel", t, "features.0.weight");
  t = good;
  t["features.0.weight"] = {{2, 27}, std::vector<float>(54)};
  expect("rank", t, "features.0.weight");
  t = good;
  t["features.10.bias"] = {{3}, std::vector<float>(3)};
  expect("bias", t, "features.10.bias");

  REQUIRE_THROWS_WITH(Vgg19Style::load(dir + "/absent.safetensors"), Contains(dir + "/absent.safetensors"));
  const std::string garbage = dir + "/garbage.safetensors";
  std::ofstream(garbage) << "certainly not weights";
  REQUIRE_THROWS_WITH(Vgg19Style::load(garbage), Contains(garbage));

  std::map<std::string, ghx::models::RawTensor> ints;
  for (const auto& [k, v] : good)
    ints[k] = {ghx::models::Dtype::i32, v.shape, std::string(v.data.size() * 4, '\0')};
  ghx::models::write_safetensors(dir + "/ints.safetensors", ints);
  REQUIRE_THROWS_WITH(Vgg19Style::load(dir + "/ints.safetensors"),
                      Contains(dir + "/ints.safetensors") && Contains("features.0.weight") && Contains("I32"));
}

TEST_CASE("Vgg19Style: bad images are Errors, threads and provenance", "[models][style]") {
  const Scratch scratch("bad_images");
  const std::string& dir = scratch.path;
  ghx::models::write_safetensors(dir + "/w.safetensors", as_tensors(small_vgg({2, 2, 2, 2, 2}, 1)));
  auto model = Vgg19Style::load(dir + "/w.safetensors");
  REQUIRE(model->grams({}).empty());
  REQUIRE_THROWS_WITH(model->grams({cv::Mat(16, 16, CV_8UC1, cv::Scalar(0))}), Contains("image 0"));
  REQUIRE_THROWS_WITH(model->grams({cv::Mat(16, 16, CV_32FC3, cv::Scalar(0))}), Contains("image 0"));
  REQUIRE_THROWS_WITH(model->grams({cv::Mat()}), Contains("image 0"));
  auto mixed = random_images(2, 16, 16, 1);
  mixed.push_back(cv::Mat(17, 16, CV_8UC3, cv::Scalar(1, 2, 3)));
  REQUIRE_THROWS_WITH(model->grams(mixed), Contains("image 2"));
  REQUIRE_THROWS_WITH(model->grams(random_images(1, 15, 64, 1)), Contains("16x16"));

  // A view into a bigger image (non-continuous rows) is read row by row.
  cv::Mat big = random_images(1, 40, 40, 4)[0];
  const cv::Mat roi = big(cv::Rect(3, 5, 20, 16));
  REQUIRE(bit_identical(model->grams({roi})[0], model->grams({roi.clone()})[0]));

  REQUIRE(ghx::models::set_torch_threads(1) == 1);
  const auto one = model->grams(random_images(2, 32, 32, 2));
  REQUIRE(ghx::models::set_torch_threads(2) == 2);
  const auto two = model->grams(random_images(2, 32, 32, 2));
  REQUIRE(bit_identical(one[0], two[0]));
  REQUIRE(ghx::models::set_torch_threads(0) >= 1);
  REQUIRE_THAT(ghx::models::torch_description(), Contains("libtorch 1."));
}

TEST_CASE("gemm_gflops: the BLAS and the oneDNN product both run and give a rate", "[models][torch]") {
  // What bench/score_bench.sh reads the models' GFLOP/s against; a tiny product here.
  const double blas = ghx::models::gemm_gflops(64, 0.01, false), onednn = ghx::models::gemm_gflops(64, 0.01, true);
  CHECK(blas > 0);
  CHECK(onednn > 0);
  CHECK(blas < 1e6);  // GFLOP/s, not FLOP/s
}
