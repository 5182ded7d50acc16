// Mirrors src/util/png.cpp: images decode as Pillow's Image.open(...).convert("RGB") sees them
// (no EXIF rotation, alpha dropped), encoding is stable, check_png refuses what is not one whole
// PNG.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "util/error.h"
#include "util/png.h"

using Catch::Matchers::Contains;
using ghx::Error;

namespace {

// A 40 x 20 BGR image whose left half is red, right half blue: a rotation would be visible both
// in the size and in where the colours are.
cv::Mat halves() {
  cv::Mat m(20, 40, CV_8UC3, cv::Scalar(0, 0, 255));
  m(cv::Rect(20, 0, 20, 20)).setTo(cv::Scalar(255, 0, 0));
  return m;
}

// JPEG bytes of `m` with an APP1 Exif segment (little-endian TIFF, one IFD0 entry: Orientation)
// right after SOI, as cameras and phones write it.
std::string jpeg_with_orientation(const cv::Mat& m, uint16_t orientation) {
  std::vector<uchar> jpg;
  REQUIRE(cv::imencode(".jpg", m, jpg, {cv::IMWRITE_JPEG_QUALITY, 95}));
  std::string tiff = std::string("II*\0", 4) + std::string("\x08\0\0\0", 4);  // header, IFD0 at 8
  tiff += std::string("\x01\0", 2);                                           // one entry
  tiff += std::string("\x12\x01", 2) + std::string("\x03\0", 2) + std::string("\x01\0\0\0", 4);  // 0x0112 SHORT x1
  tiff.push_back(static_cast<char>(orientation & 0xff));
  tiff.push_back(static_cast<char>(orientation >> 8));
  tiff += std::string("\0\0", 2);          // value padding
  tiff += std::string("\0\0\0\0", 4);      // no next IFD
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const size_t len = payload.size() + 2;
  std::string app1 = "\xff\xe1";
  app1.push_back(static_cast<char>(len >> 8));
  app1.push_back(static_cast<char>(len & 0xff));
  app1 += payload;
  std::string bytes(jpg.begin(), jpg.end());
  return bytes.substr(0, 2) + app1 + bytes.substr(2);
}

}  // namespace

TEST_CASE("decode_image: an EXIF orientation is not applied, as Pillow's Image.open", "[util][png]") {
  const cv::Mat src = halves();
  for (uint16_t orientation : {1, 3, 6, 8}) {
    INFO("orientation " << orientation);
    const std::string bytes = jpeg_with_orientation(src, orientation);
    // The tag is really there: OpenCV's default decode turns the 40x20 picture for 6 and 8.
    std::vector<uchar> buf(bytes.begin(), bytes.end());
    const cv::Mat opencv_default = cv::imdecode(buf, cv::IMREAD_COLOR);
    REQUIRE(opencv_default.cols == (orientation == 6 || orientation == 8 ? 20 : 40));
    const cv::Mat img = ghx::util::decode_image(bytes, "phone.jpg");
    REQUIRE(img.cols == 40);
    REQUIRE(img.rows == 20);
    // Red stays left, blue right (JPEG is lossy: compare the dominant channel).
    const cv::Vec3b left = img.at<cv::Vec3b>(10, 5), right = img.at<cv::Vec3b>(10, 34);
    CHECK(left[2] > 200);
    CHECK(left[0] < 60);
    CHECK(right[0] > 200);
    CHECK(right[2] < 60);
  }
}

TEST_CASE("decode_image: alpha dropped, grey expanded, garbage is one Error", "[util][png]") {
  cv::Mat rgba(8, 8, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // fully transparent: Pillow keeps the colour
  std::vector<uchar> png;
  REQUIRE(cv::imencode(".png", rgba, png));
  const cv::Mat img = ghx::util::decode_image(std::string(png.begin(), png.end()), "a.png");
  REQUIRE(img.type() == CV_8UC3);
  REQUIRE(img.at<cv::Vec3b>(3, 3) == cv::Vec3b(10, 20, 30));

  cv::Mat grey(8, 8, CV_8UC1, cv::Scalar(77));
  REQUIRE(cv::imencode(".png", grey, png));
  const cv::Mat g = ghx::util::decode_image(std::string(png.begin(), png.end()), "g.png");
  REQUIRE(g.type() == CV_8UC3);
  REQUIRE(g.at<cv::Vec3b>(0, 0) == cv::Vec3b(77, 77, 77));

  REQUIRE_THROWS_WITH(ghx::util::decode_image("not an image", "x.png"), Contains("x.png: not a readable image"));
  REQUIRE_THROWS_WITH(ghx::util::decode_image("", "empty.png"), Contains("empty.png"));
}

TEST_CASE("encode_png: the same pixels give the same bytes, and they decode back", "[util][png]") {
  const cv::Mat m = halves();
  const std::string a = ghx::util::encode_png(m), b = ghx::util::encode_png(m.clone());
  REQUIRE(a == b);
  const cv::Mat back = ghx::util::decode_image(a, "round trip");
  REQUIRE(cv::norm(back, m, cv::NORM_INF) == 0);
  REQUIRE_NOTHROW(ghx::util::check_png(a, "ok.png", 40 * 20));
  REQUIRE_THROWS_WITH(ghx::util::check_png(a, "big.png", 40 * 20 - 1), Contains("40x20 pixels"));
  REQUIRE_THROWS_WITH(ghx::util::check_png(a.substr(0, a.size() - 5), "cut.png", 1u << 20), Contains("cut.png"));
  REQUIRE_THROWS_WITH(ghx::util::check_png("<html>", "page.png", 1u << 20), Contains("starts with '<html>'"));
}
