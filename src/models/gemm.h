#pragma once
// Internal to src/models/: a float32 linear layer, y = x * w^T + b, whose every output element
// is one fixed chain of fused multiply-adds:
//
//   acc = 0; for k in 0 .. K-1: acc = fma(x[i][k], w[j][k], acc); y[i][j] = acc + b[j]
//
// fma rounds once, exactly, so that chain has one result whatever computes it: the AVX2 kernel
// (8 columns per register, 6 rows per tile), the portable one, any thread count, any number of
// rows in the product and any position of row i among them. A row's bits are a function of that
// row and the weights alone, which OpenBLAS's are not (they change with the rows beside it and
// with its thread count, docs/performance.md): texts can share a product without changing each
// other's embeddings. The weights are packed once, at load (OpenBLAS repacks them every call,
// which dominates products of a few rows). Torch-free; the caller spreads panels over threads.
// Fails: never (sizes are the caller's contract). Allocates: in a thread's first apply_panels() or
// apply_portable(), its buffer for packed rows of x (240 KB), kept for the thread's life.
#include <cstdint>
#include <vector>

namespace ghx::models {

class PackedLinear {
 public:
  static constexpr int k_panel = 16;  // output columns per panel

  /// w: [n, k] row-major, bias: [n] or null.
  PackedLinear(const float* w, std::int64_t n, std::int64_t k, const float* bias);

  std::int64_t n() const { return m_n; }
  std::int64_t k() const { return m_k; }
  std::int64_t panels() const { return (m_n + k_panel - 1) / k_panel; }

  /// Columns [p0 * 16, min(p1 * 16, n)) of y [m, n] (row stride n) for x [m, k] (row stride k).
  /// Disjoint panel ranges may run on different threads at once.
  void apply_panels(const float* x, std::int64_t m, float* y, std::int64_t p0, std::int64_t p1) const;

  /// All of y, on the calling thread.
  void apply(const float* x, std::int64_t m, float* y) const { apply_panels(x, m, y, 0, panels()); }

  /// All of y through the portable kernel, whatever the CPU: what a CPU without AVX2 runs (tests
  /// compare it with apply(), bit for bit).
  void apply_portable(const float* x, std::int64_t m, float* y) const;

  /// True when the AVX2+FMA kernel runs on this CPU (the same bits as the portable one).
  static bool vectorized();

 private:
  template <typename Tiles>
  void run(const Tiles& t, const float* x, std::int64_t m, float* y, std::int64_t p0, std::int64_t p1) const;

  std::int64_t m_n, m_k;
  std::vector<float> m_packed;  // panel p, step kk: 16 consecutive weights w[p*16 + c][kk]
  std::vector<float> m_bias;    // [panels * 16], zero where absent or past n
};

}  // namespace ghx::models
