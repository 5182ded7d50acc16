// ClipModel on libtorch: pre-LayerNorm ViT image tower and causal text tower, fp32, inference
// mode; a batched interface: one image per forward pass, texts stacked (see "Batch invariance"). Weights
// in the Hugging Face or the OpenAI / open_clip layout (models::WeightFile: safetensors or torch
// .pth), shape-checked against the ClipConfig.
// Per-op ATen headers only: <torch/torch.h> costs ~13 s per translation unit on two cores.
//
// Arithmetic (the same as transformers' CLIPModel and open_clip, in fp32):
//   attention: one [3D, D] GEMM for q, k and v (HF's q/k/v_proj are stacked at load time, the
//   1/sqrt(head_dim) scale is folded into the q rows: exact when head_dim is a power of 4), one
//   batched GEMM for the scores (baddbmm adds the causal mask), one softmax, one batched GEMM with
//   v, one GEMM for out_proj; MLP: GEMM, quick_gelu (x * sigmoid(1.702 x)) or exact gelu, GEMM.
// Work skipped because it cannot change the outputs:
//   - the patch embedding is a GEMM over the unfolded patches (a stride = kernel convolution);
//   - the last layer of each tower runs its attention queries, out_proj and MLP only for the rows
//     that are read (the class token; each text's EOT position);
//   - a text is cut after its EOT: the causal mask means later tokens never reach it.
// Batch invariance: OpenBLAS's sgemm gives a row different last bits depending on how many rows
// share the call (measured: up to ~1e-6 relative, in PyTorch too). So that an embedding depends
// only on its own input (cache entries must not depend on which images shared a batch), every
// forward pass holds one image: GEMMs have M = tokens (50 for ViT-B/32, 257 for ViT-L/14 and
// ViT-H/14). At 257 rows OpenBLAS is as fast as with more (~230 GFLOP/s per core); at 50 rows
// ViT-B/32 images cost ~18% more than in batches of 8. Texts share a pass, each at its own
// length, their rows stacked (run_texts, k_text_rows): their linear layers run through
// PackedLinear, whose rows are independent, and nothing else mixes rows of two texts (attention
// runs per text; see activate()).
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/Parallel.h>
#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/full.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mkldnn_linear.h>
#include <ATen/Context.h>
#include <ATen/ops/softmax.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <memory>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "models/clip.h"
#include "models/gemm.h"
#include "models/numerics.h"
#include "models/torch_runtime.h"
#include "models/torch_tensor.h"
#include "models/weights.h"
#include "util/error.h"

namespace ghx::models {
namespace {

constexpr std::size_t k_image_batch = 1;  // images per forward pass (1: batch-invariant bits)
// Rows (tokens) of the texts of one forward pass: their bits do not depend on it (PackedLinear's
// rows are independent, attention stays within a text, activations run in whole rows); it bounds
// the pass's memory (fc1's output: rows x mlp floats).
constexpr std::int64_t k_text_rows = 2048;


const char* layout_name(ClipLayout l) {
  return l == ClipLayout::hf ? "Hugging Face layout" : "OpenAI/open_clip layout";
}

// Reads tensors as owned, contiguous fp32 copies, checking names and shapes.
class WeightReader {
 public:
  WeightReader(const WeightFile& file, const ClipConfig& config, ClipLayout layout)
      : m_file(file), m_config(config), m_layout(layout) {}

  [[noreturn]] void fail(const std::string& key, const std::string& msg) const {
    throw Error(m_file.path() + ": tensor '" + key + "': " + msg);
  }

  at::Tensor get(const std::string& key, const std::vector<std::int64_t>& shape) const {
    if (!m_file.contains(key))
      throw Error(m_file.path() + ": missing tensor '" + key + "' (" + layout_name(m_layout) +
                  ", " + m_config.name + ")");
    const TensorInfo& t = m_file.info(key);
    if (t.shape != shape)
      fail(key, "shape " + shape_text(t.shape) + ", expected " + shape_text(shape) + " for " +
                    m_config.name);
    return load(key, t);
  }

  /// A layer beyond the config's count means the config does not describe these weights.
  void expect_absent(const std::string& key, const std::string& what) const {
    if (m_file.contains(key))
      fail(key, "present, but " + m_config.name + " has " + what + " (wrong config?)");
  }

 private:
  at::Tensor load(const std::string& key, const TensorInfo&) const { return float_tensor(m_file, key); }


  const WeightFile& m_file;
  const ClipConfig& m_config;
  ClipLayout m_layout;
};

// A linear layer, its weights prepared once for the GEMM that is fastest for its tower. The image
// tower's GEMMs (257 rows for ViT-L/14) ran 3x faster through oneDNN (libtorch's mkldnn backend:
// AVX-512 kernels, weights not repacked per call) than through OpenBLAS on the project's machines
// (OpenBLAS is pinned to its Haswell kernels there, see OPENBLAS_CORETYPE): 1.45x for whole
// images. The text tower's GEMMs, then one text of 16-80 rows each, ran 40% slower through oneDNN
// (per-call layout conversions, thread wake-ups under OMP_WAIT_POLICY=PASSIVE). Results differ from OpenBLAS's by float rounding only (~1e-6 relative) and are the
// same bits run to run. GHX_DNNL=0 turns oneDNN off; so does a CPU without AVX-512, where
// oneDNN's bits depended on the thread count and it was no faster (clip_linears_on_dnnl).
//
// The text tower's linear layers on the CPU run through PackedLinear (gemm.h): weights packed
// once, and every output element one fixed fma chain, so a text's bits depend on nothing that
// shares its product. On CUDA they run through cuBLAS, whose kernels follow the row count: there
// each text has a pass of its own (encode_texts).
struct Linear {
  at::Tensor w;  // [out, in]: an mkldnn tensor when dnnl, else dense (undefined when packed)
  at::Tensor b;  // [out] dense, or undefined
  bool dnnl = false;
  std::shared_ptr<const PackedLinear> packed;
};

bool use_dnnl() {
  static const bool on = at::hasMKLDNN() && clip_linears_on_dnnl();
  return on;
}

// image: a layer of the image tower (oneDNN where clip_linears_on_dnnl), else of the text tower.
Linear make_linear(bool image, const at::Tensor& w, const at::Tensor& b = {}) {
  Linear l;
  const at::Device dev = model_device();
  if (!image && dev.is_cpu()) {
    const at::Tensor wc = w.contiguous(), bc = b.defined() ? b.contiguous() : at::Tensor();
    l.packed = std::make_shared<const PackedLinear>(wc.data_ptr<float>(), wc.size(0), wc.size(1),
                                                    bc.defined() ? bc.data_ptr<float>() : nullptr);
    return l;
  }
  l.dnnl = image && use_dnnl() && dev.is_cpu();
  l.w = l.dnnl ? w.contiguous().to_mkldnn() : w.contiguous().to(dev);
  if (b.defined()) l.b = b.contiguous().to(dev);
  return l;
}

at::Tensor linear(const at::Tensor& x, const Linear& l) {
  if (l.packed) {
    const PackedLinear& pl = *l.packed;
    const at::Tensor x2 = x.reshape({-1, pl.k()}).contiguous();
    const std::int64_t m = x2.size(0);
    at::Tensor y = at::empty({m, pl.n()}, x2.options());
    const float* xp = x2.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, pl.panels(), 1, [&](std::int64_t p0, std::int64_t p1) { pl.apply_panels(xp, m, yp, p0, p1); });
    std::vector<std::int64_t> shape = x.sizes().vec();
    shape.back() = pl.n();
    return y.view(shape);
  }
  if (!l.dnnl) return at::linear(x, l.w, l.b);
  const at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
  at::Tensor y = at::mkldnn_linear(x2.to_mkldnn(), l.w, l.b.defined() ? c10::optional<at::Tensor>(l.b) : c10::nullopt)
                     .to_dense();
  std::vector<std::int64_t> shape = x.sizes().vec();
  shape.back() = y.size(1);
  return y.view(shape);
}

struct Block {
  at::Tensor ln1_w, ln1_b;
  Linear qkv;    // [3D, D], [3D]: q rows pre-scaled by 1/sqrt(head_dim)
  Linear q, kv;  // the last block only (it queries one row per sequence): qkv's rows split
  Linear out;
  at::Tensor ln2_w, ln2_b;
  Linear fc1, fc2;
};

struct Tower {
  std::vector<Block> blocks;
  std::int64_t heads = 1;
};

std::int64_t i64(int v) { return static_cast<std::int64_t>(v); }

Block read_block(const WeightReader& r, ClipLayout layout, const std::string& prefix,
                 const ClipTowerConfig& tc, bool last, bool dnnl) {
  const std::int64_t d = tc.width, m = tc.mlp;
  Block b;
  at::Tensor qkv_w, qkv_b, out_w, out_b, fc1_w, fc1_b, fc2_w, fc2_b;
  if (layout == ClipLayout::hf) {
    b.ln1_w = r.get(prefix + "layer_norm1.weight", {d});
    b.ln1_b = r.get(prefix + "layer_norm1.bias", {d});
    qkv_w = at::cat({r.get(prefix + "self_attn.q_proj.weight", {d, d}), r.get(prefix + "self_attn.k_proj.weight", {d, d}),
                     r.get(prefix + "self_attn.v_proj.weight", {d, d})});
    qkv_b = at::cat({r.get(prefix + "self_attn.q_proj.bias", {d}), r.get(prefix + "self_attn.k_proj.bias", {d}),
                     r.get(prefix + "self_attn.v_proj.bias", {d})});
    out_w = r.get(prefix + "self_attn.out_proj.weight", {d, d});
    out_b = r.get(prefix + "self_attn.out_proj.bias", {d});
    b.ln2_w = r.get(prefix + "layer_norm2.weight", {d});
    b.ln2_b = r.get(prefix + "layer_norm2.bias", {d});
    fc1_w = r.get(prefix + "mlp.fc1.weight", {m, d});
    fc1_b = r.get(prefix + "mlp.fc1.bias", {m});
    fc2_w = r.get(prefix + "mlp.fc2.weight", {d, m});
    fc2_b = r.get(prefix + "mlp.fc2.bias", {d});
  } else {
    b.ln1_w = r.get(prefix + "ln_1.weight", {d});
    b.ln1_b = r.get(prefix + "ln_1.bias", {d});
    qkv_w = r.get(prefix + "attn.in_proj_weight", {3 * d, d});
    qkv_b = r.get(prefix + "attn.in_proj_bias", {3 * d});
    out_w = r.get(prefix + "attn.out_proj.weight", {d, d});
    out_b = r.get(prefix + "attn.out_proj.bias", {d});
    b.ln2_w = r.get(prefix + "ln_2.weight", {d});
    b.ln2_b = r.get(prefix + "ln_2.bias", {d});
    fc1_w = r.get(prefix + "mlp.c_fc.weight", {m, d});
    fc1_b = r.get(prefix + "mlp.c_fc.bias", {m});
    fc2_w = r.get(prefix + "mlp.c_proj.weight", {d, m});
    fc2_b = r.get(prefix + "mlp.c_proj.bias", {d});
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(d / tc.heads));
  qkv_w.narrow(0, 0, d).mul_(scale);
  qkv_b.narrow(0, 0, d).mul_(scale);
  if (last) {
    b.q = make_linear(dnnl, qkv_w.narrow(0, 0, d), qkv_b.narrow(0, 0, d));
    b.kv = make_linear(dnnl, qkv_w.narrow(0, d, 2 * d), qkv_b.narrow(0, d, 2 * d));
  } else {
    b.qkv = make_linear(dnnl, qkv_w, qkv_b);
  }
  b.out = make_linear(dnnl, out_w, out_b);
  b.fc1 = make_linear(dnnl, fc1_w, fc1_b);
  b.fc2 = make_linear(dnnl, fc2_w, fc2_b);
  return b;
}

Tower read_tower(const WeightReader& r, ClipLayout layout, const std::string& prefix,
                 const ClipTowerConfig& tc, bool dnnl) {
  Tower t;
  t.heads = tc.heads;
  for (int n = 0; n < tc.layers; ++n)
    t.blocks.push_back(read_block(r, layout, prefix + std::to_string(n) + ".", tc, n + 1 == tc.layers, dnnl));
  const std::string first = layout == ClipLayout::hf ? "layer_norm1.weight" : "ln_1.weight";
  r.expect_absent(prefix + std::to_string(tc.layers) + "." + first,
                  std::to_string(tc.layers) + " layers");
  return t;
}

class TorchClip final : public ClipModel {
 public:
  TorchClip(ClipConfig config, const WeightFile& file, ClipLayout layout);
  const ClipConfig& config() const override { return m_config; }
  std::vector<ImageEmbedding> encode_images(const std::vector<std::vector<float>>& pixels) override;
  std::vector<std::vector<float>> encode_texts(const std::vector<std::vector<int32_t>>& ids,
                                               const std::vector<int32_t>& eot) override;

 private:
  at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    return at::layer_norm(x, {x.size(-1)}, w, b, m_config.layer_norm_eps);
  }
  void activate(at::Tensor& h) const;
  at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const at::Tensor& mask, std::int64_t heads) const;
  struct Span {
    std::int64_t first = 0, len = 0;  // one sequence's rows in the stacked [R, D] matrix
  };
  void block(at::Tensor& x, const Block& b, std::int64_t heads, const std::vector<Span>& spans,
             const std::vector<at::Tensor>& masks) const;
  at::Tensor last_block(const at::Tensor& x, const Block& b, std::int64_t heads, const std::vector<Span>& spans,
                        const at::Tensor& rows) const;
  /// Moves the tensors that are not Linear layers (those are placed by make_linear) to the
  /// model's device.
  void to_device();
  void run_images(const std::vector<std::vector<float>>& pixels, std::size_t first,
                  std::size_t count, std::vector<ImageEmbedding>& out) const;
  void run_texts(const std::vector<std::vector<int32_t>>& ids, const std::vector<int32_t>& eot,
                 const std::vector<std::size_t>& which, std::vector<std::vector<float>>& out) const;

  ClipConfig m_config;
  bool m_quick_gelu = true;
  // Vision.
  Linear m_patch;  // [D, 3 * p * p]: conv1 / patch_embedding flattened
  at::Tensor m_class;    // [D]
  at::Tensor m_vpos;     // [1 + g*g, D]
  at::Tensor m_pre_w, m_pre_b, m_post_w, m_post_b;
  Linear m_vproj;  // [P, D] (HF visual_projection.weight; OpenAI visual.proj transposed)
  Tower m_vision;
  // Text.
  at::Tensor m_token;  // [V, D]
  at::Tensor m_tpos;   // [context, D]
  at::Tensor m_final_w, m_final_b;
  Linear m_tproj;  // [P, D]
  Tower m_text;
};

TorchClip::TorchClip(ClipConfig config, const WeightFile& file, ClipLayout layout)
    : m_config(std::move(config)), m_quick_gelu(m_config.activation == "quick_gelu") {
  const ClipConfig& c = m_config;
  const WeightReader r(file, c, layout);
  const std::int64_t dv = c.vision.width, dt = c.text.width, p = c.patch_size;
  const std::int64_t g = c.image_size / c.patch_size, proj = c.projection_dim;
  const bool hf = layout == ClipLayout::hf;
  const std::string v = hf ? "vision_model." : "visual.";
  m_patch = make_linear(true,
      r.get(hf ? v + "embeddings.patch_embedding.weight" : v + "conv1.weight", {dv, 3, p, p}).reshape({dv, 3 * p * p}));
  m_class = r.get(v + (hf ? "embeddings.class_embedding" : "class_embedding"), {dv});
  m_vpos = r.get(hf ? v + "embeddings.position_embedding.weight" : v + "positional_embedding",
                 {g * g + 1, dv});
  m_pre_w = r.get(v + (hf ? "pre_layrnorm.weight" : "ln_pre.weight"), {dv});
  m_pre_b = r.get(v + (hf ? "pre_layrnorm.bias" : "ln_pre.bias"), {dv});
  m_vision = read_tower(r, layout, v + (hf ? "encoder.layers." : "transformer.resblocks."), c.vision, true);
  m_post_w = r.get(v + (hf ? "post_layernorm.weight" : "ln_post.weight"), {dv});
  m_post_b = r.get(v + (hf ? "post_layernorm.bias" : "ln_post.bias"), {dv});
  m_vproj = make_linear(true, hf ? r.get("visual_projection.weight", {proj, dv})
                           : r.get("visual.proj", {dv, proj}).t().contiguous());

  const std::string t = hf ? "text_model." : "";
  m_token = r.get(hf ? t + "embeddings.token_embedding.weight" : "token_embedding.weight",
                  {i64(c.vocab_size), dt});
  m_tpos = r.get(hf ? t + "embeddings.position_embedding.weight" : "positional_embedding",
                 {i64(c.context), dt});
  m_text = read_tower(r, layout, t + (hf ? "encoder.layers." : "transformer.resblocks."), c.text, false);
  m_final_w = r.get(t + (hf ? "final_layer_norm.weight" : "ln_final.weight"), {dt});
  m_final_b = r.get(t + (hf ? "final_layer_norm.bias" : "ln_final.bias"), {dt});
  to_device();
  m_tproj = make_linear(false, hf ? r.get("text_projection.weight", {proj, dt})
                           : r.get("text_projection", {dt, proj}).t().contiguous());
}

void TorchClip::to_device() {
  const at::Device dev = model_device();
  if (dev.is_cpu()) return;
  for (at::Tensor* t : {&m_class, &m_vpos, &m_pre_w, &m_pre_b, &m_post_w, &m_post_b, &m_token, &m_tpos, &m_final_w,
                        &m_final_b})
    *t = t->to(dev);
  for (Tower* tower : {&m_vision, &m_text})
    for (Block& b : tower->blocks)
      for (at::Tensor* t : {&b.ln1_w, &b.ln1_b, &b.ln2_w, &b.ln2_b}) *t = t->to(dev);
}

// ATen's elementwise kernels run the last elements of each chunk of work through scalar code
// (std::exp, std::erf) and the rest through vector code (Sleef), which can round differently;
// the chunks follow the thread count and the tensor's size, so an element's bits could depend on
// the threads and, in a pass of several texts, on the others. Here each chunk is whole rows and
// runs on one thread (ATen does not split work inside a parallel region, nor below 32768
// elements): with rows of a multiple of 64 values (the vector loop's step is two vectors, 32
// floats at most) every element takes the vector path, and otherwise each row is a chunk of its
// own, so an element's path depends only on its column.
void TorchClip::activate(at::Tensor& h) const {
  auto act = [this](at::Tensor x) {
    if (m_quick_gelu) {
      at::Tensor s = x.mul(1.702);
      s.sigmoid_();
      x.mul_(s);
    } else {
      at::gelu_(x);
    }
  };
  if (!h.device().is_cpu()) return act(h);
  const std::int64_t w = h.size(-1), rows = h.numel() / std::max<std::int64_t>(1, w);
  at::Tensor flat = h.view({rows, w});
  const bool whole = w % 64 == 0;
  const std::int64_t grain = whole ? std::max<std::int64_t>(1, 32767 / std::max<std::int64_t>(1, w)) : 1;
  at::parallel_for(0, rows, grain, [&](std::int64_t r0, std::int64_t r1) {
    c10::InferenceMode guard;  // thread-local: the pool's threads are not in the caller's mode
    if (whole) return act(flat.narrow(0, r0, r1 - r0));
    for (std::int64_t r = r0; r < r1; ++r) act(flat.narrow(0, r, 1));
  });
}

// q: [B, Tq, D], k and v: [B, T, D] (q already scaled). mask: broadcastable to
// [B * heads, Tq, T], or undefined. Returns [B, Tq, D].
at::Tensor TorchClip::attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& mask, std::int64_t heads) const {
  const std::int64_t n = q.size(0), tq = q.size(1), t = k.size(1), d = q.size(2);
  const std::int64_t hd = d / heads;
  auto split = [&](const at::Tensor& x, std::int64_t rows) {  // [B, T, D] -> [B * H, T, hd]
    return x.view({n, rows, heads, hd}).transpose(1, 2).reshape({n * heads, rows, hd});
  };
  const at::Tensor qh = split(q, tq), kh = split(k, t), vh = split(v, t);
  at::Tensor scores = mask.defined() ? at::baddbmm(mask, qh, kh.transpose(1, 2))
                                     : at::bmm(qh, kh.transpose(1, 2));
  scores = at::softmax(scores, -1);
  return at::bmm(scores, vh).view({n, heads, tq, hd}).transpose(1, 2).reshape({n, tq, d});
}

// One pre-LN residual block on the stacked rows x [R, D] of one or more sequences (updated in
// place). Every operation but attention works row by row; attention runs per sequence, on its
// own rows, under masks[len] (a text's causal mask), or unmasked where `masks` is empty.
void TorchClip::block(at::Tensor& x, const Block& b, std::int64_t heads, const std::vector<Span>& spans,
                      const std::vector<at::Tensor>& masks) const {
  const std::int64_t d = x.size(1);
  const at::Tensor qkv = linear(layer_norm(x, b.ln1_w, b.ln1_b), b.qkv);  // [R, 3D]
  at::Tensor o = at::empty_like(x);
  for (const Span& s : spans) {
    const at::Tensor t = qkv.narrow(0, s.first, s.len).unsqueeze(0);  // [1, L, 3D]
    const at::Tensor mask = masks.empty() ? at::Tensor() : masks[static_cast<std::size_t>(s.len)];
    o.narrow(0, s.first, s.len)
        .copy_(attention(t.narrow(2, 0, d), t.narrow(2, d, d), t.narrow(2, 2 * d, d), mask, heads).squeeze(0));
  }
  x.add_(linear(o, b.out));
  at::Tensor h = linear(layer_norm(x, b.ln2_w, b.ln2_b), b.fc1);
  activate(h);
  x.add_(linear(h, b.fc2));
}

// The last block, for one row per sequence only (`rows` [B], int64: sequence i's row in x, the
// class token or a text's EOT); keys and values come from every row of the sequence, all of
// which that row may attend to. Returns [B, D].
at::Tensor TorchClip::last_block(const at::Tensor& x, const Block& b, std::int64_t heads,
                                 const std::vector<Span>& spans, const at::Tensor& rows) const {
  const std::int64_t d = x.size(1), n = static_cast<std::int64_t>(spans.size());
  const at::Tensor h = layer_norm(x, b.ln1_w, b.ln1_b);
  const at::Tensor kv = linear(h, b.kv);                      // [R, 2D]
  const at::Tensor q = linear(h.index_select(0, rows), b.q);  // [B, D]
  at::Tensor sel = x.index_select(0, rows);                   // [B, D]
  at::Tensor o = at::empty({n, d}, x.options());
  for (std::int64_t i = 0; i < n; ++i) {
    const Span& s = spans[static_cast<std::size_t>(i)];
    const at::Tensor t = kv.narrow(0, s.first, s.len).unsqueeze(0);  // [1, L, 2D]
    o.narrow(0, i, 1).copy_(
        attention(q.narrow(0, i, 1).unsqueeze(0), t.narrow(2, 0, d), t.narrow(2, d, d), {}, heads).view({1, d}));
  }
  sel.add_(linear(o, b.out));
  at::Tensor m = linear(layer_norm(sel, b.ln2_w, b.ln2_b), b.fc1);
  activate(m);
  sel.add_(linear(m, b.fc2));
  return sel;
}

void TorchClip::run_images(const std::vector<std::vector<float>>& pixels, std::size_t first,
                           std::size_t count, std::vector<ImageEmbedding>& out) const {
  const std::int64_t n = static_cast<std::int64_t>(count), s = m_config.image_size;
  const std::int64_t p = m_config.patch_size, g = s / p, d = m_config.vision.width;
  at::Tensor px = at::empty({n, 3, s, s}, at::TensorOptions().dtype(at::kFloat));  // filled on the CPU
  float* dst = px.data_ptr<float>();
  const std::size_t per = static_cast<std::size_t>(3 * s * s);
  for (std::size_t i = 0; i < count; ++i) std::memcpy(dst + i * per, pixels[first + i].data(), per * 4);
  // Patches as rows (c, ky, kx order = the conv weight's): [B, 3, g, p, g, p] -> [B, g, g, 3, p, p].
  const at::Tensor patches =
      px.to(model_device()).view({n, 3, g, p, g, p}).permute({0, 2, 4, 1, 3, 5}).reshape({n, g * g, 3 * p * p});
  const at::Tensor emb = linear(patches, m_patch);  // [B, g*g, D]
  at::Tensor x = at::cat({m_class.view({1, 1, d}).expand({n, 1, d}), emb}, 1);
  x.add_(m_vpos);
  x = layer_norm(x, m_pre_w, m_pre_b);
  const auto& blocks = m_vision.blocks;
  at::Tensor cls;
  if (blocks.empty()) {
    cls = x.select(1, 0);
  } else {
    // Each image's tokens as one sequence of the stacked rows; the class token (its first) is read.
    const std::int64_t t = x.size(1);
    std::vector<Span> spans;
    for (std::int64_t i = 0; i < n; ++i) spans.push_back({i * t, t});
    x = x.reshape({n * t, d});
    for (std::size_t i = 0; i + 1 < blocks.size(); ++i) block(x, blocks[i], m_vision.heads, spans, {});
    const at::Tensor rows = at::arange(n, at::TensorOptions().dtype(at::kLong).device(model_device())).mul_(t);
    cls = last_block(x, blocks.back(), m_vision.heads, spans, rows);
  }
  const at::Tensor pooled_dev = layer_norm(cls, m_post_w, m_post_b).contiguous();
  const at::Tensor projected = linear(pooled_dev, m_vproj).contiguous().to(at::kCPU);
  const at::Tensor pooled = pooled_dev.to(at::kCPU);
  const float* pp = pooled.data_ptr<float>();
  const float* jp = projected.data_ptr<float>();
  const std::size_t pd = static_cast<std::size_t>(d), jd = static_cast<std::size_t>(m_config.projection_dim);
  for (std::size_t i = 0; i < count; ++i) {
    out[first + i].pooled.assign(pp + i * pd, pp + (i + 1) * pd);
    out[first + i].projected.assign(jp + i * jd, jp + (i + 1) * jd);
  }
}

// The texts `which` in one pass, each at its own length (its tokens up to the EOT: the causal
// mask keeps later tokens from reaching it), their rows stacked into one [R, D] matrix: every
// product is a PackedLinear one, whose rows are independent, layer norms and activations are
// per row, and attention (the only operation that mixes rows) runs per text, on its own rows
// (on CUDA a pass holds one text: see encode_texts).
// So a text's bits depend on its tokens alone, not on the texts beside it nor on its place.
void TorchClip::run_texts(const std::vector<std::vector<int32_t>>& ids, const std::vector<int32_t>& eot,
                          const std::vector<std::size_t>& which, std::vector<std::vector<float>>& out) const {
  const std::size_t count = which.size();
  const std::int64_t n = static_cast<std::int64_t>(count);
  std::vector<Span> spans(count);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    spans[i] = {total, static_cast<std::int64_t>(eot[which[i]]) + 1};
    total += spans[i].len;
  }
  const at::TensorOptions lopt = at::TensorOptions().dtype(at::kLong);
  at::Tensor tok = at::empty({total}, lopt), pos = at::empty({total}, lopt), last = at::empty({n}, lopt);
  std::int64_t* tp = tok.data_ptr<std::int64_t>();
  std::int64_t* pp = pos.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < count; ++i) {
    const auto& seq = ids[which[i]];
    for (std::int64_t j = 0; j < spans[i].len; ++j) {
      tp[spans[i].first + j] = seq[static_cast<std::size_t>(j)];
      pp[spans[i].first + j] = j;
    }
    last.data_ptr<std::int64_t>()[i] = spans[i].first + spans[i].len - 1;
  }
  tok = tok.to(model_device());
  pos = pos.to(model_device());
  last = last.to(model_device());
  at::Tensor x = at::embedding(m_token, tok);  // [R, D]
  x.add_(at::embedding(m_tpos, pos));
  const auto& blocks = m_text.blocks;
  at::Tensor feature;
  if (blocks.empty()) {
    feature = x.index_select(0, last);
  } else {
    // One causal mask per length in the pass: [L, L], -inf above the diagonal.
    const at::TensorOptions fopt = at::TensorOptions().dtype(at::kFloat).device(model_device());
    std::vector<at::Tensor> masks(static_cast<std::size_t>(m_config.context) + 1);
    for (const Span& s : spans) {
      at::Tensor& m = masks[static_cast<std::size_t>(s.len)];
      if (!m.defined()) m = at::full({s.len, s.len}, -std::numeric_limits<float>::infinity(), fopt).triu_(1);
    }
    for (std::size_t i = 0; i + 1 < blocks.size(); ++i) block(x, blocks[i], m_text.heads, spans, masks);
    feature = last_block(x, blocks.back(), m_text.heads, spans, last);
  }
  const at::Tensor projected =
      linear(layer_norm(feature, m_final_w, m_final_b), m_tproj).contiguous().to(at::kCPU);
  const float* jp = projected.data_ptr<float>();
  const std::size_t jd = static_cast<std::size_t>(m_config.projection_dim);
  for (std::size_t i = 0; i < count; ++i) out[which[i]].assign(jp + i * jd, jp + (i + 1) * jd);
}

std::vector<ImageEmbedding> TorchClip::encode_images(const std::vector<std::vector<float>>& pixels) {
  const std::size_t want = static_cast<std::size_t>(3) * m_config.image_size * m_config.image_size;
  for (std::size_t i = 0; i < pixels.size(); ++i)
    if (pixels[i].size() != want)
      throw Error("clip: image " + std::to_string(i) + " has " + std::to_string(pixels[i].size()) +
                  " values, expected 3 x " + std::to_string(m_config.image_size) + " x " +
                  std::to_string(m_config.image_size) + " = " + std::to_string(want));
  std::vector<ImageEmbedding> out(pixels.size());
  try {
    c10::InferenceMode guard;
    for (std::size_t first = 0; first < pixels.size(); first += k_image_batch)
      run_images(pixels, first, std::min(k_image_batch, pixels.size() - first), out);
  } catch (const c10::Error& e) {
    throw Error(std::string("clip: libtorch failed: ") + e.what_without_backtrace());
  }
  return out;
}

std::vector<std::vector<float>> TorchClip::encode_texts(const std::vector<std::vector<int32_t>>& ids,
                                                        const std::vector<int32_t>& eot) {
  if (ids.size() != eot.size())
    throw Error("clip: " + std::to_string(ids.size()) + " token sequences but " +
                std::to_string(eot.size()) + " EOT positions");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& seq = ids[i];
    const std::string which = "clip: text " + std::to_string(i) + ": ";
    if (seq.empty() || seq.size() > static_cast<std::size_t>(m_config.context))
      throw Error(which + std::to_string(seq.size()) + " tokens (1 .. " +
                  std::to_string(m_config.context) + " expected)");
    if (eot[i] < 0 || static_cast<std::size_t>(eot[i]) >= seq.size())
      throw Error(which + "EOT position " + std::to_string(eot[i]) + " is outside its " +
                  std::to_string(seq.size()) + " tokens");
    for (std::size_t j = 0; j < seq.size(); ++j)
      if (seq[j] < 0 || seq[j] >= m_config.vocab_size)
        throw Error(which + "token id " + std::to_string(seq[j]) + " at position " +
                    std::to_string(j) + " is outside the vocabulary (" +
                    std::to_string(m_config.vocab_size) + " ids)");
  }
  std::vector<std::vector<float>> out(ids.size());
  try {
    c10::InferenceMode guard;
    // Texts share a pass, in the order given, up to k_text_rows rows; one text per pass off the
    // CPU, where the products' rows are not independent (cuBLAS picks kernels by shape).
    const std::int64_t cap = model_device().is_cpu() ? k_text_rows : 0;
    for (std::size_t i = 0; i < ids.size();) {
      std::vector<std::size_t> pass{i};
      std::int64_t rows = eot[i] + 1;
      for (++i; i < ids.size() && rows + eot[i] + 1 <= cap; ++i) {
        pass.push_back(i);
        rows += eot[i] + 1;
      }
      run_texts(ids, eot, pass, out);
    }
  } catch (const c10::Error& e) {
    throw Error(std::string("clip: libtorch failed: ") + e.what_without_backtrace());
  }
  return out;
}

}  // namespace

std::unique_ptr<ClipModel> ClipModel::load(const std::string& path, const ClipConfig& config,
                                           ClipLayout layout, const std::string& activation) {
  ClipConfig c = config;
  if (!activation.empty()) {
    if (activation != "quick_gelu" && activation != "gelu")
      throw Error("clip: unknown activation '" + activation + "' (quick_gelu or gelu)");
    c.activation = activation;
  }
  if (c.activation != "quick_gelu" && c.activation != "gelu")
    throw Error("clip: " + c.name + ": unknown activation '" + c.activation +
                "' (quick_gelu or gelu)");
  for (const auto* t : {&c.vision, &c.text})
    if (t->layers < 0 || t->width <= 0 || t->heads <= 0 || t->mlp <= 0 || t->width % t->heads != 0)
      throw Error("clip: " + c.name + ": inconsistent tower (width " + std::to_string(t->width) +
                  ", heads " + std::to_string(t->heads) + ", mlp " + std::to_string(t->mlp) + ")");
  if (c.patch_size <= 0 || c.image_size <= 0 || c.image_size % c.patch_size != 0 ||
      c.context <= 0 || c.vocab_size <= 0 || c.projection_dim <= 0)
    throw Error("clip: " + c.name + ": inconsistent sizes (image " + std::to_string(c.image_size) +
                ", patch " + std::to_string(c.patch_size) + ", context " +
                std::to_string(c.context) + ", vocabulary " + std::to_string(c.vocab_size) +
                ", projection " + std::to_string(c.projection_dim) + ")");
  const WeightFile file = WeightFile::open(path);
  if (layout == ClipLayout::automatic) {
    if (file.contains("vision_model.embeddings.patch_embedding.weight"))
      layout = ClipLayout::hf;
    else if (file.contains("visual.conv1.weight"))
      layout = ClipLayout::openai;
    else
      throw Error(path + ": not a CLIP ViT state dict: neither "
                         "'vision_model.embeddings.patch_embedding.weight' (Hugging Face) nor "
                         "'visual.conv1.weight' (OpenAI/open_clip) is present");
  }
  ensure_torch_threads();
  (void)model_device();  // a device that cannot be had is an error before any weight is read
  try {
    c10::InferenceMode guard;
    return std::make_unique<TorchClip>(std::move(c), file, layout);
  } catch (const c10::Error& e) {
    throw Error(path + ": libtorch failed while loading: " + e.what_without_backtrace());
  }
}

}  // namespace ghx::models
