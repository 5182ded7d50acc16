#include "exec/scoring.h"

#include <cmath>
#include <cstring>

#include <opencv2/imgproc.hpp>

#include "models/clip_preprocess.h"
#include "util/error.h"

namespace ghx::exec {

cv::Mat prepare_for_vgg(const cv::Mat& bgr, int w, int h) {
  const cv::Mat resized = bgr.cols == w && bgr.rows == h ? bgr : models::pil_bicubic_resize(bgr, w, h);
  cv::Mat rgb;
  cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::unique_ptr<models::ClipModel> load_clip(const std::string& path, const std::string& arch, const std::string& layout,
                                             const std::string& activation) {
  models::ClipLayout l = models::ClipLayout::automatic;
  if (layout == "hf") l = models::ClipLayout::hf;
  else if (layout == "openai") l = models::ClipLayout::openai;
  else if (!layout.empty() && layout != "auto") throw Error("unknown CLIP layout '" + layout + "' (hf or openai)");
  return models::ClipModel::load(path, models::clip_config(arch), l, activation);
}

namespace {
void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}
}  // namespace

std::string encode_embedding(const models::ImageEmbedding& e) {
  std::string s = "GXEM";
  put_u32(s, 1);
  put_u32(s, static_cast<uint32_t>(e.projected.size()));
  put_u32(s, static_cast<uint32_t>(e.pooled.size()));
  s.append(reinterpret_cast<const char*>(e.projected.data()), e.projected.size() * 4);
  s.append(reinterpret_cast<const char*>(e.pooled.data()), e.pooled.size() * 4);
  return s;
}

models::ImageEmbedding decode_embedding(const std::string& b) {
  if (b.size() < 16 || b.compare(0, 4, "GXEM") != 0 || get_u32(b, 4) != 1) throw Error("not an embedding blob");
  size_t np = get_u32(b, 8), nq = get_u32(b, 12);
  if (b.size() != 16 + 4 * (np + nq)) throw Error("embedding blob has the wrong size");
  models::ImageEmbedding e;
  e.projected.resize(np);
  e.pooled.resize(nq);
  // An empty vector's data() may be null, and memcpy(nullptr, p, 0) is undefined.
  if (np != 0) std::memcpy(e.projected.data(), b.data() + 16, np * 4);
  if (nq != 0) std::memcpy(e.pooled.data(), b.data() + 16 + np * 4, nq * 4);
  return e;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) throw Error("embeddings of different sizes");
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  double na = std::sqrt(aa), nb = std::sqrt(bb);
  if (na == 0) na = 1;
  if (nb == 0) nb = 1;
  return ab / (na * nb);
}

double clip_score_value(double cos, const std::string& variant) {
  if (variant == "raw" || variant.empty()) return cos;
  if (variant == "hessel") return 2.5 * std::max(cos, 0.0);
  if (variant == "x100") return 100.0 * std::max(cos, 0.0);
  throw Error("unknown clip_score variant '" + variant + "'");
}

}  // namespace ghx::exec
