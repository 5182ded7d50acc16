#pragma once
// CLIP image preprocessing as torchvision does it on PIL images, torch-free:
// resize the short side to `size` with Pillow's bicubic filter (a = -0.5, support widened by the
// shrink factor = antialiasing, horizontal pass then vertical, 8-bit rounding after each pass),
// centre crop size x size (offset round(margin / 2), halves to even, as torchvision), RGB,
// [0, 1], then (x - mean) / std per channel. Mean and std belong to the model's config.
// Fails: throws ghx::Error for an empty or non-8-bit image. Never: uses OpenCV's INTER_CUBIC
// (a = -0.75, no antialiasing: measurably different scores, see shared reference/metrics.md).
#include <array>
#include <vector>

#include <opencv2/core.hpp>

namespace ghx::models {

/// Pillow-compatible bicubic resize of an 8-bit image (any channel count) to w x h.
cv::Mat pil_bicubic_resize(const cv::Mat& img, int w, int h);

/// `bgr`: CV_8UC3 as OpenCV decodes. Returns 3 x size x size floats, channel-major (RGB).
std::vector<float> clip_preprocess(const cv::Mat& bgr, int size, const std::array<float, 3>& mean,
                                   const std::array<float, 3>& std);

}  // namespace ghx::models
