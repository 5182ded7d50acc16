// The report as a reader sees it: headless Chromium (Debian's `chromium`, installed by
// scripts/setup.sh --test) renders report.html of a real run, in the light and the dark colour
// scheme; the screenshots must show a page (not blank), with the charts and contact sheets'
// images loaded from the report folder.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support.h"
#include "util/fs.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {

std::string chromium() {
  if (const char* c = std::getenv("GHX_CHROMIUM")) return c;
  return "/usr/bin/chromium";
}

/// Screenshot of `page` at 1280 x `height`; returns the image (empty on failure).
cv::Mat screenshot(const std::string& page, const std::string& png, int height, bool dark) {
  std::string cmd = chromium() + " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run" +
                    (dark ? " --force-dark-mode" : "") + " --window-size=1280," + std::to_string(height) +
                    " --screenshot=" + png + " file://" + page + " >/dev/null 2>&1";
  test::run_command(cmd);
  return cv::imread(png, cv::IMREAD_COLOR);
}

/// Share of pixels that differ clearly from the page background (the top-left pixel).
double ink(const cv::Mat& img) {
  cv::Vec3b bg = img.at<cv::Vec3b>(0, 0);
  size_t n = 0;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) {
      cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      if (std::abs(p[0] - bg[0]) + std::abs(p[1] - bg[1]) + std::abs(p[2] - bg[2]) > 60) ++n;
    }
  return static_cast<double>(n) / (static_cast<double>(img.rows) * img.cols);
}

}  // namespace

TEST_CASE("report.html in headless Chromium: not blank, light and dark, images load", "[report][chromium]") {
  INFO("needs " << chromium() << ": run scripts/setup.sh --test (or set GHX_CHROMIUM)");
  REQUIRE(util::file_exists(chromium()));
  test::TempDir t;
  std::string exp = test::write_small_review(t.path());
  auto run = test::run_command("cd " + t.path() + " && " + GHX_BINARY + " run " + exp + " --cache cache --out rep 2>&1");
  INFO(run.out);
  REQUIRE(run.code == 0);
  std::string page = fs::absolute(t / "rep/report.html").string();

  // Every thumbnail and full image the page links to is in the report folder.
  std::string html = test::slurp(page);
  size_t imgs = 0;
  for (size_t p = html.find("src=\"thumbs/"); p != std::string::npos; p = html.find("src=\"thumbs/", p + 1), ++imgs) {
    std::string rel = html.substr(p + 5, html.find('"', p + 5) - p - 5);
    CHECK(util::file_exists(t / ("rep/" + rel)));
  }
  CHECK(imgs == 6);  // 3 style prompts x 2 checkpoints
  CHECK(html.find("<svg") != std::string::npos);

  cv::Mat light = screenshot(page, t / "light.png", 2400, false);
  REQUIRE_FALSE(light.empty());
  CHECK(light.cols == 1280);
  CHECK(light.at<cv::Vec3b>(0, 0)[1] > 200);  // light background
  double light_ink = ink(light);
  CHECK(light_ink > 0.02);  // text, tables, bars and thumbnails: far from blank
  CHECK(light_ink < 0.6);

  cv::Mat dark = screenshot(page, t / "dark.png", 2400, true);
  REQUIRE_FALSE(dark.empty());
  CHECK(dark.at<cv::Vec3b>(0, 0)[1] < 60);  // dark background, text still there
  CHECK(ink(dark) > 0.02);

  // The contact sheet's thumbnails are drawn: the synthetic images are colourful, while the page
  // is grey apart from the blue chart bars (hue ~108 of 180); count strongly coloured pixels of
  // other hues.
  cv::Mat hsv;
  cv::cvtColor(light, hsv, cv::COLOR_BGR2HSV);
  size_t colourful = 0;
  for (int y = 0; y < hsv.rows; ++y)
    for (int x = 0; x < hsv.cols; ++x) {
      cv::Vec3b p = hsv.at<cv::Vec3b>(y, x);
      colourful += p[1] > 120 && p[2] > 60 && std::abs(static_cast<int>(p[0]) - 108) > 15;
    }
  CHECK(colourful > 6 * 32 * 32 / 4);  // a good part of six 32 x 32 thumbnails
}
