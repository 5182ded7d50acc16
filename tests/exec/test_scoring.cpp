// Mirrors src/exec/scoring.cpp's image preparation for VGG19: ghx's decode + prepare_for_vgg
// must give what Pillow's Image.open(f).convert("RGB").resize((w, h)) gives, bit for bit, on the
// Pillow outputs committed in tests/data/preprocess/ (tests/models/make_preprocess_fixture.py).
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "exec/scoring.h"
#include "util/png.h"

namespace {

std::string data(const std::string& name) { return std::string(GHX_TEST_DATA) + "/preprocess/" + name; }

long differing(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(a.type() == b.type());
  cv::Mat d;
  cv::absdiff(a, b, d);
  return static_cast<long>(cv::countNonZero(d.reshape(1)));
}

}  // namespace

TEST_CASE("prepare_for_vgg resizes as Pillow's Image.resize does, RGB out", "[exec][scoring]") {
  std::ifstream in(data("expected.json"));
  REQUIRE(in.good());
  const nlohmann::json fx = nlohmann::json::parse(in);
  int checked = 0, shrunk = 0;
  for (const char* group : {"cases", "resize_only"}) {
    for (const auto& c : fx[group]) {
      const std::string name = c["name"];
      INFO(name);
      const int w = c["resized"][0].get<int>(), h = c["resized"][1].get<int>();
      const cv::Mat src = ghx::util::read_image(data(name + ".png"));  // BGR, as ghx decodes
      const cv::Mat got = ghx::exec::prepare_for_vgg(src, w, h);
      cv::Mat want;
      cv::cvtColor(ghx::util::read_image(data(name + ".resized.png")), want, cv::COLOR_BGR2RGB);
      REQUIRE(got.type() == CV_8UC3);
      CHECK(differing(got, want) == 0);
      if (w < src.cols && h < src.rows) {
        // OpenCV's area filter, what ghx used before, is not Pillow's: the fixture tells them apart.
        cv::Mat area, area_rgb;
        cv::resize(src, area, cv::Size(w, h), 0, 0, cv::INTER_AREA);
        cv::cvtColor(area, area_rgb, cv::COLOR_BGR2RGB);
        CHECK(differing(area_rgb, want) > 0);
        ++shrunk;
      }
      ++checked;
    }
  }
  REQUIRE(checked >= 10);
  REQUIRE(shrunk >= 2);
}

TEST_CASE("prepare_for_vgg at the image's own size only swaps the channels", "[exec][scoring]") {
  cv::Mat bgr(17, 23, CV_8UC3);
  cv::randu(bgr, 0, 256);
  const cv::Mat rgb = ghx::exec::prepare_for_vgg(bgr, 23, 17);
  cv::Mat back;
  cv::cvtColor(rgb, back, cv::COLOR_RGB2BGR);
  REQUIRE(cv::norm(back, bgr, cv::NORM_INF) == 0);
}
