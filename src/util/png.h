#pragma once
// Image bytes <-> pixels (OpenCV codecs). PNG encoding uses fixed settings so the same pixels
// give the same bytes on one build. Fails: throws ghx::Error naming `what`.
#include <string>

#include <opencv2/core.hpp>

namespace ghx::util {

/// `bgr`: CV_8UC3. Returns PNG bytes.
std::string encode_png(const cv::Mat& bgr);
/// Decodes PNG/JPEG/WebP bytes to 8-bit BGR. `what` names the source in errors.
cv::Mat decode_image(const std::string& bytes, const std::string& what);
/// Reads and decodes an image file.
cv::Mat read_image(const std::string& path);

}  // namespace ghx::util
