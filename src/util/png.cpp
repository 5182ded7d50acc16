#include "util/png.h"

#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "util/error.h"
#include "util/fs.h"
#include "util/png_text.h"
#include "util/strings.h"

namespace ghx::util {

std::string encode_png(const cv::Mat& bgr) {
  std::vector<uchar> out;
  std::vector<int> params = {cv::IMWRITE_PNG_COMPRESSION, 6};
  if (!cv::imencode(".png", bgr, out, params)) throw Error("cannot encode PNG");
  return std::string(out.begin(), out.end());
}

cv::Mat decode_image(const std::string& bytes, const std::string& what) {
  cv::Mat img;
  if (!bytes.empty()) {
    std::vector<uchar> buf(bytes.begin(), bytes.end());
    // As Pillow's Image.open(...).convert("RGB"): EXIF orientation is not applied.
    img = cv::imdecode(buf, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  }
  if (img.empty()) throw Error(what + ": not a readable image (PNG, JPEG or WebP)");
  return img;
}

void check_png(const std::string& bytes, const std::string& what, uint64_t max_pixels) {
  if (!is_png(bytes))
    throw Error(what + ": not a PNG (" + (bytes.empty() ? std::string("empty") : "starts with '" + printable_prefix(bytes, 16) + "'") + ")");
  if (bytes.size() < 33 || bytes.compare(12, 4, "IHDR") != 0) throw Error(what + ": not a PNG (no IHDR chunk first)");
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
           (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
  };
  const uint64_t w = be32(16), h = be32(20);
  if (w == 0 || h == 0 || w * h > max_pixels)
    throw Error(what + ": a PNG of " + std::to_string(w) + "x" + std::to_string(h) + " pixels (at most " +
                std::to_string(max_pixels) + " pixels are read)");
  png_text_chunks(bytes, what);  // every chunk to IEND, CRCs checked
  decode_image(bytes, what);
}

cv::Mat read_image(const std::string& path) { return decode_image(read_file(path), path); }

}  // namespace ghx::util
