// Mirrors src/models/clip_preprocess.cpp: pil_bicubic_resize against Pillow 9.4's own output and
// clip_preprocess against PIL + torchvision (CLIP's transform), from the fixtures written by
// tests/models/make_preprocess_fixture.py into tests/data/preprocess/.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "models/clip_preprocess.h"
#include "util/error.h"

using ghx::models::clip_preprocess;
using ghx::models::pil_bicubic_resize;

namespace {

const std::string k_dir = std::string(GHX_TEST_DATA) + "/preprocess/";

nlohmann::json fixture() {
  std::ifstream in(k_dir + "expected.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

cv::Mat read_png(const std::string& name) {
  cv::Mat m = cv::imread(k_dir + name, cv::IMREAD_UNCHANGED);
  REQUIRE_FALSE(m.empty());
  return m;
}

std::vector<float> read_f32(const std::string& name) {
  std::ifstream in(k_dir + name, std::ios::binary);
  REQUIRE(in.good());
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));  // little-endian, as written
  return v;
}

std::array<float, 3> floats3(const nlohmann::json& j) {
  // Python's doubles rounded to float32 exactly as torch.as_tensor(mean, dtype=float32) does.
  return {static_cast<float>(j[0].get<double>()), static_cast<float>(j[1].get<double>()),
          static_cast<float>(j[2].get<double>())};
}

struct PixelDiff {
  long differing = 0;
  int max_diff = 0;
};

PixelDiff compare(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.rows == b.rows);
  REQUIRE(a.cols == b.cols);
  REQUIRE(a.type() == b.type());
  cv::Mat d;
  cv::absdiff(a, b, d);
  PixelDiff out;
  out.differing = static_cast<long>(cv::countNonZero(d.reshape(1)));
  double mx = 0;
  cv::minMaxLoc(d.reshape(1), nullptr, &mx);
  out.max_diff = static_cast<int>(mx);
  return out;
}

}  // namespace

TEST_CASE("pil_bicubic_resize reproduces Pillow's bicubic resize bit for bit", "[models][preprocess]") {
  const nlohmann::json fx = fixture();
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    INFO(name);
    const cv::Mat src = read_png(name + ".png");
    const cv::Mat want = read_png(name + ".resized.png");
    const cv::Mat got = pil_bicubic_resize(src, c["resized"][0].get<int>(), c["resized"][1].get<int>());
    const PixelDiff d = compare(got, want);
    INFO("differing values " << d.differing << ", max difference " << d.max_diff);
    CHECK(d.differing == 0);
  }
  for (const auto& c : fx["resize_only"]) {
    const std::string name = c["name"];
    INFO(name);
    const cv::Mat src = read_png(name + ".png");
    REQUIRE(src.channels() == c["channels"].get<int>());
    const cv::Mat want = read_png(name + ".resized.png");
    const cv::Mat got = pil_bicubic_resize(src, c["resized"][0].get<int>(), c["resized"][1].get<int>());
    const PixelDiff d = compare(got, want);
    INFO("differing values " << d.differing << ", max difference " << d.max_diff);
    CHECK(d.differing == 0);
  }
}

TEST_CASE("clip_preprocess matches PIL + torchvision's CLIP transform", "[models][preprocess]") {
  const nlohmann::json fx = fixture();
  const std::array<float, 3> mean = floats3(fx["mean"]), std = floats3(fx["std"]);
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    INFO(name);
    const int size = c["size"];
    const std::vector<float> got = clip_preprocess(read_png(name + ".png"), size, mean, std);
    REQUIRE(got.size() == 3u * size * size);
    double max_err = 0;
    if (c.contains("floats")) {
      const std::vector<float> want = read_f32(c["floats"]);
      REQUIRE(want.size() == got.size());
      for (std::size_t i = 0; i < got.size(); ++i)
        max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - want[i]));
    } else {
      for (const auto& s : c["samples"]) {
        const auto i = s[0].get<std::size_t>();
        REQUIRE(i < got.size());
        max_err = std::max(max_err, std::fabs(got[i] - s[1].get<double>()));
      }
    }
    INFO("max abs error " << max_err);
    CHECK(max_err <= 1e-5);
  }
}

TEST_CASE("clip_preprocess crops at round(margin / 2), halves to even", "[models][preprocess]") {
  // Height = size: no resampling at all; column x holds value x, so the output tells the offset.
  const int size = 16;
  const std::array<float, 3> mean{0, 0, 0}, std{1, 1, 1};
  const std::pair<int, int> margins[] = {{0, 0}, {1, 0}, {2, 1}, {3, 2}, {5, 2}, {7, 4}, {9, 4}, {11, 6}};
  for (const auto& [margin, offset] : margins) {
    INFO("margin " << margin);
    cv::Mat img(size, size + margin, CV_8UC3);
    for (int y = 0; y < img.rows; ++y)
      for (int x = 0; x < img.cols; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(0, 0, static_cast<uchar>(x));
    const std::vector<float> out = clip_preprocess(img, size, mean, std);
    CHECK(std::lround(out[0] * 255.0f) == offset);  // R plane, first pixel
    const cv::Mat tall = img.t();  // the same along the height: row y holds value y
    const std::vector<float> out_t = clip_preprocess(tall, size, mean, std);
    CHECK(std::lround(out_t[0] * 255.0f) == offset);
    CHECK(std::lround(out_t[static_cast<std::size_t>(size)] * 255.0f) == offset + 1);  // row 1
  }
}

TEST_CASE("clip_preprocess orders channels RGB, channel-major, normalised", "[models][preprocess]") {
  cv::Mat img(4, 4, CV_8UC3, cv::Scalar(10, 20, 30));  // B, G, R
  const std::array<float, 3> mean{0.5f, 0.25f, 0.125f}, std{2.0f, 4.0f, 8.0f};
  const std::vector<float> out = clip_preprocess(img, 4, mean, std);
  REQUIRE(out.size() == 48u);
  CHECK(out[0] == (30.0f / 255.0f - 0.5f) / 2.0f);
  CHECK(out[16] == (20.0f / 255.0f - 0.25f) / 4.0f);
  CHECK(out[32] == (10.0f / 255.0f - 0.125f) / 8.0f);
}

TEST_CASE("pil_bicubic_resize: unchanged size is a copy, constant images stay constant", "[models][preprocess]") {
  cv::Mat img(7, 5, CV_8UC4, cv::Scalar(1, 2, 3, 4));
  img.at<cv::Vec4b>(3, 2) = cv::Vec4b(200, 100, 50, 25);
  const cv::Mat same = pil_bicubic_resize(img, 5, 7);
  CHECK(same.data != img.data);
  CHECK(cv::countNonZero(cv::Mat(same != img).reshape(1)) == 0);
  const cv::Mat flat(9, 13, CV_8UC1, cv::Scalar(77));
  for (const auto& [w, h] : {std::pair{3, 2}, {40, 31}, {13, 1}, {1, 50}}) {
    const cv::Mat r = pil_bicubic_resize(flat, w, h);
    REQUIRE(r.cols == w);
    REQUIRE(r.rows == h);
    double lo = 0, hi = 0;
    cv::minMaxLoc(r, &lo, &hi);
    CHECK(lo == 77);
    CHECK(hi == 77);
  }
}

TEST_CASE("clip preprocessing rejects what it cannot handle", "[models][preprocess]") {
  const std::array<float, 3> m{0, 0, 0}, s{1, 1, 1};
  CHECK_THROWS_AS(pil_bicubic_resize(cv::Mat(), 4, 4), ghx::Error);
  CHECK_THROWS_AS(pil_bicubic_resize(cv::Mat(4, 4, CV_16UC3, cv::Scalar(0)), 2, 2), ghx::Error);
  CHECK_THROWS_AS(pil_bicubic_resize(cv::Mat(4, 4, CV_8UC3, cv::Scalar(0)), 0, 2), ghx::Error);
  CHECK_THROWS_AS(clip_preprocess(cv::Mat(), 4, m, s), ghx::Error);
  CHECK_THROWS_AS(clip_preprocess(cv::Mat(8, 8, CV_8UC1, cv::Scalar(0)), 4, m, s), ghx::Error);
  CHECK_THROWS_AS(clip_preprocess(cv::Mat(8, 8, CV_8UC3, cv::Scalar(0)), 0, m, s), ghx::Error);
}
