// The synthetic backend: a TEST backend, no diffusion model. It draws a deterministic picture
// from (checkpoint identity, prompt, negative prompt, seed, width, height) with OpenCV so that
// the whole pipeline (cache, VGG features, statistics, reports) runs without a GPU. Different
// checkpoints get different palettes and stroke habits, so their scores differ in a stable way.
#include <opencv2/imgproc.hpp>

#include "backends/backends.h"
#include "backends/infotext.h"
#include "util/hash.h"
#include "util/png.h"
#include "util/png_text.h"

namespace ghx::backends {

using exec::Executor;
using exec::Job;
using exec::Outcome;

namespace {

/// splitmix64: a small, fully specified generator (same numbers on every platform).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int range(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
};

cv::Scalar color(Rng& r, int base) {
  return cv::Scalar((base * 37 + r.range(0, 90)) % 256, (base * 91 + r.range(0, 90)) % 256, (base * 53 + r.range(0, 90)) % 256);
}

}  // namespace

std::string synthetic_png(const plan::Step& step) {
  const int w = std::stoi(step.param("width"));
  const int h = std::stoi(step.param("height"));
  const std::string& ckpt = step.param("checkpoint");
  const std::string& prompt = step.param("prompt");
  util::Digest128 ck = util::xxh3_128(ckpt);
  util::Digest128 pr = util::xxh3_128(prompt + '\x1f' + step.param("negative_prompt"));
  Rng style{ck.lo};                                          // the checkpoint's habits
  Rng content{pr.lo ^ (ck.hi * 31)};                         // what the prompt asks for
  Rng noise{pr.hi ^ ck.lo ^ std::stoull(step.param("seed"))};  // seed-to-seed variation

  const int palette = style.range(0, 255);
  const int thickness_base = style.range(1, 6);
  const int n_shapes = 6 + content.range(0, 10);
  cv::Mat img(h, w, CV_8UC3, color(style, palette));
  // background gradient
  cv::Scalar top = color(content, palette), bottom = color(style, palette + 7);
  for (int y = 0; y < h; ++y) {
    double t = h > 1 ? double(y) / (h - 1) : 0;
    cv::line(img, {0, y}, {w - 1, y}, top * (1 - t) + bottom * t);
  }
  for (int i = 0; i < n_shapes; ++i) {
    Rng& r = (i % 3 == 0) ? noise : content;
    cv::Point c(r.range(0, w - 1), r.range(0, h - 1));
    int rad = std::max(2, r.range(w / 16, w / 4));
    cv::Scalar col = color(r, palette + i);
    int thick = (style.range(0, 2) == 0) ? -1 : thickness_base;
    switch (style.range(0, 2)) {
      case 0: cv::circle(img, c, rad, col, thick, cv::LINE_AA); break;
      case 1: cv::rectangle(img, c, c + cv::Point(rad, rad / 2 + 1), col, thick, cv::LINE_8); break;
      default: cv::line(img, c, {noise.range(0, w - 1), noise.range(0, h - 1)}, col, thickness_base, cv::LINE_AA);
    }
  }
  // speckle texture whose density is a checkpoint habit
  int speckles = (w * h) / (40 + style.range(0, 400));
  for (int i = 0; i < speckles; ++i) {
    cv::Vec3b& px = img.at<cv::Vec3b>(noise.range(0, h - 1), noise.range(0, w - 1));
    px = cv::Vec3b(uchar(noise.range(0, 255)), uchar(noise.range(0, 255)), uchar(noise.range(0, 255)));
  }
  if (w >= 96 && h >= 24)
    cv::putText(img, "SYNTHETIC", {2, h - 4}, cv::FONT_HERSHEY_PLAIN, 0.8, cv::Scalar(255, 255, 255), 1, cv::LINE_8);
  // Provenance like a real server's: A1111-style infotext in the `parameters` chunk.
  Infotext t = infotext_of_step(step);
  t.set("Model", ckpt);
  t.set("Version", "ghx synthetic test backend");
  return util::png_set_text(util::encode_png(img), "parameters", t.format(), "synthetic image");
}

namespace {

/// The synthetic TEST backend: deterministic drawings, no server.
class SyntheticExecutor : public exec::Executor {
 public:
  size_t max_batch() const override { return 8; }
  std::string device() const override { return "synthetic"; }
  void run(const std::vector<exec::Job>& jobs, std::vector<exec::Outcome>& out) override {
    out.assign(jobs.size(), exec::Outcome{});
    for (size_t i = 0; i < jobs.size(); ++i) {
      try {
        out[i].bytes = synthetic_png(*jobs[i].step);
        out[i].ok = true;
      } catch (const std::exception& e) {
        out[i].error = e.what();
      }
    }
  }
};

}  // namespace

std::unique_ptr<exec::Executor> make_synthetic_executor() { return std::make_unique<SyntheticExecutor>(); }

}  // namespace ghx::backends
