// CLIP image preprocessing; contract in clip_preprocess.h, choices in docs/models.md.
// pil_bicubic_resize follows the algorithm of Pillow's ImagingResample for 8-bit images (as of
// Pillow 9.4, src/libImaging/Resample.c): separable bicubic (a = -0.5) whose support grows with
// the shrink factor, weights normalised per output pixel and rounded to 22-bit fixed point, an
// integer accumulator seeded with one half, the result clamped to 0..255; horizontal pass first,
// each pass skipped when its size does not change.
#include "models/clip_preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "util/error.h"

namespace ghx::models {
namespace {

/// 8 bits of result, 2 bits of headroom for the negative lobes: 32 - 8 - 2.
constexpr int k_precision_bits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/// Fixed-point weights of one pass: output i reads inputs [first[i], first[i] + count[i]).
struct Coeffs {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<std::int32_t> weights;  ///< out_size x ksize
};

Coeffs make_coeffs(int in_size, int out_size) {
  // The box is the whole input: in0 = 0, in1 = in_size (single precision in Pillow).
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<std::size_t>(out_size));
  c.count.resize(static_cast<std::size_t>(out_size));
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(static_cast<std::size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as the C cast
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubic((x + xmin - center + 0.5) * ss);
      k[static_cast<std::size_t>(x)] = w;
      ww += w;
    }
    std::int32_t* out = &c.weights[static_cast<std::size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      double v = k[static_cast<std::size_t>(x)];
      if (ww != 0.0) v /= ww;
      out[x] = v < 0 ? static_cast<std::int32_t>(-0.5 + v * (1 << k_precision_bits))
                     : static_cast<std::int32_t>(0.5 + v * (1 << k_precision_bits));
    }
    c.first[static_cast<std::size_t>(xx)] = xmin;
    c.count[static_cast<std::size_t>(xx)] = xmax;
  }
  return c;
}

inline std::uint8_t clip8(std::int32_t acc) {
  const std::int32_t v = acc >> k_precision_bits;  // arithmetic shift, as Pillow's table index
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

cv::Mat resample_horizontal(const cv::Mat& in, int out_w) {
  const Coeffs c = make_coeffs(in.cols, out_w);
  const int ch = in.channels();
  cv::Mat out(in.rows, out_w, in.type());
  for (int y = 0; y < in.rows; ++y) {
    const std::uint8_t* src = in.ptr<std::uint8_t>(y);
    std::uint8_t* dst = out.ptr<std::uint8_t>(y);
    for (int xx = 0; xx < out_w; ++xx) {
      const int xmin = c.first[static_cast<std::size_t>(xx)];
      const int n = c.count[static_cast<std::size_t>(xx)];
      const std::int32_t* k = &c.weights[static_cast<std::size_t>(xx) * c.ksize];
      for (int b = 0; b < ch; ++b) {
        std::int32_t acc = 1 << (k_precision_bits - 1);
        for (int x = 0; x < n; ++x) acc += src[(x + xmin) * ch + b] * k[x];
        dst[xx * ch + b] = clip8(acc);
      }
    }
  }
  return out;
}

cv::Mat resample_vertical(const cv::Mat& in, int out_h) {
  const Coeffs c = make_coeffs(in.rows, out_h);
  const int ch = in.channels();
  const int row_len = in.cols * ch;
  cv::Mat out(out_h, in.cols, in.type());
  for (int yy = 0; yy < out_h; ++yy) {
    const int ymin = c.first[static_cast<std::size_t>(yy)];
    const int n = c.count[static_cast<std::size_t>(yy)];
    const std::int32_t* k = &c.weights[static_cast<std::size_t>(yy) * c.ksize];
    std::uint8_t* dst = out.ptr<std::uint8_t>(yy);
    for (int i = 0; i < row_len; ++i) {
      std::int32_t acc = 1 << (k_precision_bits - 1);
      for (int y = 0; y < n; ++y) acc += in.ptr<std::uint8_t>(ymin + y)[i] * k[y];
      dst[i] = clip8(acc);
    }
  }
  return out;
}

/// Python's int(round(v / 2.0)) for an integer v >= 0: halves go to the even neighbour.
int half_even_half(int v) {
  const int q = v / 2;
  if (v % 2 == 0) return q;
  return q % 2 == 0 ? q : q + 1;  // v / 2.0 = q + 0.5
}

// Resize + centre crop + normalise in one pass, computing only the pixels the crop keeps
// (Pillow-exact: integer accumulation, so any summation order gives the same bytes). 1.7x the
// separate passes in bench/score_bench.sh.
std::vector<float> fused_preprocess(const cv::Mat& bgr, int new_w, int new_h, int size, int left, int top,
                                    const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  const int w = bgr.cols, h = bgr.rows;
  const bool need_h = new_w != w, need_v = new_h != h;
  const Coeffs cx = need_h ? make_coeffs(w, new_w) : Coeffs{};
  const Coeffs cy = need_v ? make_coeffs(h, new_h) : Coeffs{};
  // Input rows the vertical pass reads for output rows [top, top + size).
  int y0 = top, y1 = top + size;
  if (need_v) {
    y0 = cy.first[static_cast<std::size_t>(top)];
    y1 = 0;
    for (int yy = top; yy < top + size; ++yy)
      y1 = std::max(y1, cy.first[static_cast<std::size_t>(yy)] + cy.count[static_cast<std::size_t>(yy)]);
  }
  // Horizontal pass over rows [y0, y1), output columns [left, left + size) only: size x 3 bytes.
  const int rows = y1 - y0, row_len = size * 3;
  std::vector<std::uint8_t> tmp(static_cast<std::size_t>(rows) * row_len);
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* src = bgr.ptr<std::uint8_t>(y0 + y);
    std::uint8_t* dst = &tmp[static_cast<std::size_t>(y) * row_len];
    if (!need_h) {
      std::memcpy(dst, src + left * 3, static_cast<std::size_t>(row_len));
      continue;
    }
    for (int i = 0; i < size; ++i) {
      const std::size_t xx = static_cast<std::size_t>(left + i);
      const int xmin = cx.first[xx], n = cx.count[xx];
      const std::int32_t* k = &cx.weights[xx * static_cast<std::size_t>(cx.ksize)];
      const std::uint8_t* p = src + xmin * 3;
      std::int32_t a0 = 1 << (k_precision_bits - 1), a1 = a0, a2 = a0;
      for (int x = 0; x < n; ++x, p += 3) {
        a0 += p[0] * k[x];
        a1 += p[1] * k[x];
        a2 += p[2] * k[x];
      }
      dst[i * 3] = clip8(a0);
      dst[i * 3 + 1] = clip8(a1);
      dst[i * 3 + 2] = clip8(a2);
    }
  }
  // ToTensor + Normalize through a table: the same single-precision arithmetic per byte value.
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - mean[c]) / std[c];
  const std::size_t plane = static_cast<std::size_t>(size) * size;
  std::vector<float> out(3 * plane);
  std::vector<std::int32_t> acc(static_cast<std::size_t>(row_len));
  std::vector<std::uint8_t> line(static_cast<std::size_t>(row_len));
  for (int yy = 0; yy < size; ++yy) {
    const std::uint8_t* r;
    if (need_v) {
      const std::size_t oy = static_cast<std::size_t>(top + yy);
      const int ymin = cy.first[oy], n = cy.count[oy];
      const std::int32_t* k = &cy.weights[oy * static_cast<std::size_t>(cy.ksize)];
      std::fill(acc.begin(), acc.end(), 1 << (k_precision_bits - 1));
      for (int y = 0; y < n; ++y) {
        const std::uint8_t* in = &tmp[static_cast<std::size_t>(ymin - y0 + y) * row_len];
        const std::int32_t ky = k[y];
        for (int i = 0; i < row_len; ++i) acc[static_cast<std::size_t>(i)] += in[i] * ky;
      }
      for (int i = 0; i < row_len; ++i) line[static_cast<std::size_t>(i)] = clip8(acc[static_cast<std::size_t>(i)]);
      r = line.data();
    } else {
      r = &tmp[static_cast<std::size_t>(top + yy - y0) * row_len];
    }
    float* o0 = &out[static_cast<std::size_t>(yy) * size];
    for (int x = 0; x < size; ++x) {
      o0[x] = lut[0][r[x * 3 + 2]];               // R (BGR input)
      o0[plane + x] = lut[1][r[x * 3 + 1]];       // G
      o0[2 * plane + x] = lut[2][r[x * 3]];       // B
    }
  }
  return out;
}

}  // namespace

cv::Mat pil_bicubic_resize(const cv::Mat& img, int w, int h) {
  if (img.empty()) throw Error("pil_bicubic_resize: empty image");
  if (img.depth() != CV_8U) throw Error("pil_bicubic_resize: expected an 8-bit image");
  if (img.dims != 2) throw Error("pil_bicubic_resize: expected a 2-D image");
  if (w <= 0 || h <= 0)
    throw Error("pil_bicubic_resize: bad target size " + std::to_string(w) + "x" +
                std::to_string(h));
  // Pillow skips a pass whose size is unchanged (and copies when both are).
  cv::Mat cur = img;
  if (w != img.cols) cur = resample_horizontal(cur, w);
  if (h != img.rows) cur = resample_vertical(cur, h);
  return cur.data == img.data ? img.clone() : cur;
}

std::vector<float> clip_preprocess(const cv::Mat& bgr, int size, const std::array<float, 3>& mean,
                                   const std::array<float, 3>& std) {
  if (bgr.empty()) throw Error("clip_preprocess: empty image");
  if (bgr.type() != CV_8UC3)
    throw Error("clip_preprocess: expected an 8-bit 3-channel image, got type " +
                std::to_string(bgr.type()));
  if (size <= 0) throw Error("clip_preprocess: bad size " + std::to_string(size));
  // torchvision Resize(size): the short side becomes `size`, the long one int(size * long / short)
  // (the quotient in double precision, truncated).
  const int w = bgr.cols, h = bgr.rows;
  const int short_side = std::min(w, h), long_side = std::max(w, h);
  const int new_long = static_cast<int>(static_cast<double>(static_cast<std::int64_t>(size) * long_side) /
                                        short_side);
  const int new_w = w <= h ? size : new_long;
  const int new_h = w <= h ? new_long : size;
  // torchvision CenterCrop: offset int(round((dim - size) / 2.0)).
  const int top = half_even_half(new_h - size);
  const int left = half_even_half(new_w - size);
  if (bgr.type() == CV_8UC3 && new_w >= size && new_h >= size)
    return fused_preprocess(bgr, new_w, new_h, size, left, top, mean, std);
  const cv::Mat resized = pil_bicubic_resize(bgr, new_w, new_h);
  const std::size_t plane = static_cast<std::size_t>(size) * size;
  std::vector<float> out(3 * plane);
  for (int y = 0; y < size; ++y) {
    const std::uint8_t* row = resized.ptr<std::uint8_t>(top + y) + static_cast<std::ptrdiff_t>(left) * 3;
    for (int x = 0; x < size; ++x) {
      for (int c = 0; c < 3; ++c) {
        // ToTensor then Normalize, in single precision as torch does: (v / 255 - mean) / std.
        const float v = static_cast<float>(row[x * 3 + (2 - c)]) / 255.0f;
        out[c * plane + static_cast<std::size_t>(y) * size + x] = (v - mean[c]) / std[c];
      }
    }
  }
  return out;
}

}  // namespace ghx::models
