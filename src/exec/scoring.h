#pragma once
// Scoring pieces shared by the step executors and `ghx score`: image preparation for VGG,
// CLIP model loading from review-style settings, the embedding blob format, CLIP score variants.
// Fails: throws ghx::Error. Never: touches the cache.
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "models/clip.h"

namespace ghx::exec {

/// BGR image -> RGB at w x h, as VGG style features want it: resized as Pillow's
/// `Image.resize((w, h))` does (its default filter, bicubic with antialiasing, since Pillow 7;
/// models/clip_preprocess.h), no change at the same size. Step keys name it
/// `preprocess` = `pil_bicubic` (plan/plan.cpp).
cv::Mat prepare_for_vgg(const cv::Mat& bgr, int w, int h);

/// `arch`: a known name or a config path; `layout`: "", "auto", "hf", "openai"; `activation`:
/// "" keeps the config's.
std::unique_ptr<models::ClipModel> load_clip(const std::string& path, const std::string& arch, const std::string& layout,
                                             const std::string& activation);

/// Embedding blob: "GXEM", u32 version 1, u32 n_projected, u32 n_pooled, then the floats, LE.
std::string encode_embedding(const models::ImageEmbedding& e);
models::ImageEmbedding decode_embedding(const std::string& bytes);

double cosine(const std::vector<float>& a, const std::vector<float>& b);
/// raw: cosine (GhostReview); hessel: 2.5 * max(cos, 0); x100: 100 * max(cos, 0) (torchmetrics).
double clip_score_value(double cos, const std::string& variant);

}  // namespace ghx::exec
