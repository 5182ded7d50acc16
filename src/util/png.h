#pragma once
// Image bytes <-> pixels (OpenCV codecs). PNG encoding uses fixed settings so the same pixels
// give the same bytes on one build. Fails: throws ghx::Error naming `what`.
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

namespace ghx::util {

/// `bgr`: CV_8UC3. Returns PNG bytes.
std::string encode_png(const cv::Mat& bgr);
/// Decodes PNG/JPEG/WebP bytes to 8-bit BGR as Pillow's `Image.open(f).convert("RGB")` sees
/// them: an EXIF orientation tag is not applied (OpenCV's default would rotate), alpha is
/// dropped. `what` names the source in errors.
cv::Mat decode_image(const std::string& bytes, const std::string& what);
/// Checks that `bytes` are one whole PNG a reader can decode: the signature, an IHDR of at most
/// `max_pixels` pixels (checked before decoding, so a tiny file cannot claim a huge image),
/// every chunk to IEND with its CRC, and pixels that decode. Throws ghx::Error naming `what`
/// and the first problem ("not a PNG (starts with '<html>')", "truncated PNG (...)").
void check_png(const std::string& bytes, const std::string& what, uint64_t max_pixels);
/// Reads and decodes an image file.
cv::Mat read_image(const std::string& path);

}  // namespace ghx::util
