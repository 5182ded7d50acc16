#include "util/png.h"

#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "util/error.h"
#include "util/fs.h"

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
    img = cv::imdecode(buf, cv::IMREAD_COLOR);
  }
  if (img.empty()) throw Error(what + ": not a readable image (PNG, JPEG or WebP)");
  return img;
}

cv::Mat read_image(const std::string& path) { return decode_image(read_file(path), path); }

}  // namespace ghx::util
