// Vgg19Style on libtorch: torchvision's vgg19 features[:29] (conv1_1 .. conv5_1), weights from
// safetensors or a torch.save .pth (WeightFile picks by content), Gram matrices at the layers of
// a StyleLayers preset (a conv's output before its ReLU, or the ReLU's after it).
// Per-op ATen headers only: <torch/torch.h> costs ~13 s per translation unit on two cores.
#include <ATen/core/Tensor.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/max_pool2d.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "models/numerics.h"
#include "models/weights.h"
#include "models/style.h"
#include "models/torch_runtime.h"
#include "models/torch_tensor.h"
#include "util/error.h"

namespace ghx::models {
namespace {

// torchvision vgg19 `features`: convs at these indices, ReLU after each, max-pool 2x2 at 4, 9,
// 18, 27 (i.e. after the ReLU of convs 2, 7, 16, 25). features[:29] ends with conv5_1 (28).
constexpr int k_conv_indices[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28};
// One image per forward pass. oneDNN picks its convolution kernels by shape, batch size
// included, so an image's Grams had other low bits in a batch of 4 than alone: a resumed run,
// batching what was left, wrote other style losses than an uninterrupted one (found by
// tests/integration/crash_points.sh). One at a time is also faster here: whole-process
// `ghx score style` of 8 images + 2 targets at 512x512 on 2 cores, 10.4 s and 532 MB peak, against
// 11.9 s and 1307 MB in batches of 4.
constexpr int k_batch = 1;
constexpr int k_min_side = 16;  // four 2x2 pools must leave at least one pixel
constexpr float k_mean[3] = {0.485f, 0.456f, 0.406f};
constexpr float k_std[3] = {0.229f, 0.224f, 0.225f};

bool pool_after(int index) { return index == 2 || index == 7 || index == 16 || index == 25; }

struct Conv {
  int index = 0;
  at::Tensor weight;  // [out, in, 3, 3], float, channels_last where vgg_channels_last()
  at::Tensor bias;    // [out]
};



class TorchVgg19Style final : public Vgg19Style {
 public:
  explicit TorchVgg19Style(std::vector<Conv> convs) : m_convs(std::move(convs)) {}
  std::vector<GramSet> grams(const std::vector<cv::Mat>& rgb_images, const StyleLayers& layers) override;

 private:
  void run_batch(const std::vector<cv::Mat>& images, std::size_t first, std::size_t count,
                 const std::vector<int>& features, std::vector<GramSet>& out) const;
  std::vector<Conv> m_convs;
};

at::Tensor to_input(const std::vector<cv::Mat>& images, std::size_t first, std::size_t count) {
  const cv::Mat& m0 = images[first];
  const auto n = static_cast<std::int64_t>(count);
  at::Tensor bytes = at::empty({n, m0.rows, m0.cols, 3}, at::TensorOptions().dtype(at::kByte));
  auto* dst = bytes.data_ptr<std::uint8_t>();
  const std::size_t row = static_cast<std::size_t>(m0.cols) * 3;
  for (std::size_t i = 0; i < count; ++i) {
    const cv::Mat& m = images[first + i];
    for (int y = 0; y < m.rows; ++y, dst += row) std::memcpy(dst, m.ptr<std::uint8_t>(y), row);
  }
  // NHWC bytes viewed as NCHW are channels_last: the float ops below keep that layout, made
  // contiguous NCHW where VGG19 runs in NCHW (vgg_channels_last). Same arithmetic as
  // torchvision's to_tensor (x / 255) and Normalize ((x - mean) / std).
  const at::Device dev = model_device();
  at::Tensor mean = at::from_blob(const_cast<float*>(k_mean), {1, 3, 1, 1}).to(dev);
  at::Tensor stdev = at::from_blob(const_cast<float*>(k_std), {1, 3, 1, 1}).to(dev);
  const at::Tensor x = bytes.to(dev).permute({0, 3, 1, 2}).to(at::kFloat).div(255).sub(mean).div(stdev);
  return vgg_channels_last() ? x : x.contiguous();
}

void add_grams(const at::Tensor& y, std::size_t first, std::size_t count, std::vector<GramSet>& out) {
  const std::int64_t c = y.size(1), h = y.size(2), w = y.size(3);
  // G = F F^T = (C x HW)(HW x C), F a view of the output: (N, H*W, C) transposed in channels_last,
  // (N, C, H*W) in NCHW.
  at::Tensor g;
  if (vgg_channels_last()) {
    const at::Tensor f = y.permute({0, 2, 3, 1}).reshape({y.size(0), h * w, c});
    g = at::bmm(f.transpose(1, 2), f);
  } else {
    const at::Tensor f = y.reshape({y.size(0), c, h * w});
    g = at::bmm(f, f.transpose(1, 2));
  }
  g = g.contiguous().to(at::kCPU);
  const float* gp = g.data_ptr<float>();
  for (std::size_t i = 0; i < count; ++i) {
    GramSet& s = out[first + i];
    s.channels.push_back(static_cast<int>(c));
    s.sizes.push_back(static_cast<double>(c) * static_cast<double>(h) * static_cast<double>(w));
    s.grams.emplace_back(gp + i * c * c, gp + (i + 1) * c * c);
  }
}

void TorchVgg19Style::run_batch(const std::vector<cv::Mat>& images, std::size_t first,
                                std::size_t count, const std::vector<int>& features,
                                std::vector<GramSet>& out) const {
  const auto wanted = [&](int index) { return std::find(features.begin(), features.end(), index) != features.end(); };
  const int last = features.back();
  at::Tensor x = to_input(images, first, count);
  for (const Conv& conv : m_convs) {
    at::Tensor y = at::conv2d(x, conv.weight, conv.bias, /*stride=*/1, /*padding=*/1);
    if (wanted(conv.index)) add_grams(y, first, count, out);  // before the in-place ReLU
    if (conv.index == last) break;
    x = y.relu_();
    if (wanted(conv.index + 1)) add_grams(x, first, count, out);
    if (conv.index + 1 == last) break;
    if (pool_after(conv.index)) x = at::max_pool2d(x, {2, 2});
  }
}

std::vector<GramSet> TorchVgg19Style::grams(const std::vector<cv::Mat>& rgb_images, const StyleLayers& layers) {
  // Checked again here: a StyleLayers built by hand must name real layers, in order.
  const StyleLayers checked = parse_style_layers(style_layers_text(layers));
  for (std::size_t i = 0; i < rgb_images.size(); ++i) {
    const cv::Mat& m = rgb_images[i];
    if (m.empty() || m.type() != CV_8UC3)
      throw Error("vgg19: image " + std::to_string(i) + " is not 8-bit 3-channel RGB");
    if (m.size() != rgb_images[0].size())
      throw Error("vgg19: image " + std::to_string(i) + " is " + std::to_string(m.cols) + "x" +
                  std::to_string(m.rows) + ", image 0 is " + std::to_string(rgb_images[0].cols) +
                  "x" + std::to_string(rgb_images[0].rows) + ": resize them to one size first");
    if (m.rows < k_min_side || m.cols < k_min_side)
      throw Error("vgg19: image " + std::to_string(i) + " is " + std::to_string(m.cols) + "x" +
                  std::to_string(m.rows) + ", at least 16x16 is needed");
  }
  std::vector<GramSet> out(rgb_images.size());
  try {
    c10::InferenceMode guard;
    for (std::size_t first = 0; first < rgb_images.size(); first += k_batch) {
      const std::size_t count = std::min<std::size_t>(k_batch, rgb_images.size() - first);
      run_batch(rgb_images, first, count, checked.features, out);
    }
  } catch (const c10::Error& e) {
    throw Error(std::string("vgg19: libtorch failed: ") + e.what_without_backtrace());
  }
  return out;
}

}  // namespace

std::unique_ptr<Vgg19Style> Vgg19Style::load(const std::string& path) {
  const WeightFile f = WeightFile::open(path);
  ensure_torch_threads();
  (void)model_device();  // a device that cannot be had is an error before any weight is read
  std::vector<Conv> convs;
  std::int64_t in_channels = 3;
  std::string prev = "the RGB input";
  try {
    c10::InferenceMode guard;
    for (int index : k_conv_indices) {
      const std::string wkey = "features." + std::to_string(index) + ".weight";
      const std::string bkey = "features." + std::to_string(index) + ".bias";
      const auto& ws = f.info(wkey).shape;
      const auto& bs = f.info(bkey).shape;
      auto bad = [&](const std::string& key, const std::string& msg) {
        throw Error(path + ": tensor '" + key + "': " + msg);
      };
      if (ws.size() != 4 || ws[2] != 3 || ws[3] != 3 || ws[0] <= 0)
        bad(wkey, "shape " + shape_text(ws) + ", expected [out, in, 3, 3]");
      if (ws[1] != in_channels)
        bad(wkey, "shape " + shape_text(ws) + ": " + std::to_string(ws[1]) +
                      " input channels, but " + prev + " gives " + std::to_string(in_channels));
      if (bs.size() != 1 || bs[0] != ws[0])
        bad(bkey, "shape " + shape_text(bs) + ", expected [" + std::to_string(ws[0]) + "]");
      Conv c;
      c.index = index;
      c.weight = float_tensor(f, wkey).contiguous(vgg_channels_last() ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous).to(model_device());
      c.bias = float_tensor(f, bkey).to(model_device());
      convs.push_back(std::move(c));
      in_channels = ws[0];
      prev = "features." + std::to_string(index);
    }
  } catch (const c10::Error& e) {
    throw Error(path + ": libtorch failed while loading: " + e.what_without_backtrace());
  }
  return std::make_unique<TorchVgg19Style>(std::move(convs));
}

}  // namespace ghx::models
