// PackedLinear (gemm.h): packed weights, a 6x16 register tile, blocks that keep a 256-step slice
// of a weight panel in L1 and a block of rows in L2, that block's rows packed six by six so a
// tile's broadcasts read consecutive floats (rows of x lie k floats apart: for k = 3072 all six
// fell in one L1 set). Whatever the blocking, an output element's
// accumulator goes through the same fma chain in k order: between k blocks it is stored as the
// float it is and loaded back, which changes nothing.
#include "models/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define GHX_GEMM_X86 1
#endif

namespace ghx::models {

namespace {

constexpr int k_rows = 6;            // rows per register tile
constexpr std::int64_t k_kc = 256;   // k steps per block: 16 KB of a panel, L1-resident
constexpr std::int64_t k_mc = 240;   // rows per block: 240 x 256 floats of x, L2-resident
constexpr int P = PackedLinear::k_panel;

// c [R, 16] (row stride ldc) = (first ? 0 : c) + chain over kn steps, then + bias if given.
// a: R rows of x packed step by step, a[kk * 6 + r] = x[r][kk]; b: the panel, b[kk * 16 + j].
using TileFn = void (*)(const float* a, const float* b, std::int64_t kn, float* c, std::int64_t ldc, bool first,
                        const float* bias);

template <int R>
void tile_portable(const float* a, const float* b, std::int64_t kn, float* c, std::int64_t ldc, bool first,
                   const float* bias) {
  float acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < P; ++j) acc[r][j] = first ? 0.0f : c[r * ldc + j];
  for (std::int64_t kk = 0; kk < kn; ++kk)
    for (int r = 0; r < R; ++r) {
      const float ar = a[kk * k_rows + r];
      for (int j = 0; j < P; ++j) acc[r][j] = std::fma(ar, b[kk * P + j], acc[r][j]);
    }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < P; ++j) c[r * ldc + j] = bias ? acc[r][j] + bias[j] : acc[r][j];
}

#ifdef GHX_GEMM_X86
template <int R>
__attribute__((target("avx2,fma"))) void tile_avx2(const float* a, const float* b, std::int64_t kn, float* c,
                                                    std::int64_t ldc, bool first, const float* bias) {
  __m256 c0[R], c1[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    c0[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc);
    c1[r] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc + 8);
  }
  for (std::int64_t kk = 0; kk < kn; ++kk) {
    const __m256 b0 = _mm256_loadu_ps(b + kk * P);
    const __m256 b1 = _mm256_loadu_ps(b + kk * P + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + kk * k_rows + r);
      c0[r] = _mm256_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(ar, b1, c1[r]);
    }
  }
  if (bias) {
    const __m256 bb0 = _mm256_loadu_ps(bias), bb1 = _mm256_loadu_ps(bias + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      c0[r] = _mm256_add_ps(c0[r], bb0);
      c1[r] = _mm256_add_ps(c1[r], bb1);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(c + r * ldc, c0[r]);
    _mm256_storeu_ps(c + r * ldc + 8, c1[r]);
  }
}
#endif

bool cpu_has_avx2_fma() {
#ifdef GHX_GEMM_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

struct Tiles {
  TileFn fn[k_rows + 1] = {};
  explicit Tiles(bool vector) {
#ifdef GHX_GEMM_X86
    if (vector && cpu_has_avx2_fma()) {
      fn[1] = &tile_avx2<1>, fn[2] = &tile_avx2<2>, fn[3] = &tile_avx2<3>;
      fn[4] = &tile_avx2<4>, fn[5] = &tile_avx2<5>, fn[6] = &tile_avx2<6>;
      return;
    }
#endif
    fn[1] = &tile_portable<1>, fn[2] = &tile_portable<2>, fn[3] = &tile_portable<3>;
    fn[4] = &tile_portable<4>, fn[5] = &tile_portable<5>, fn[6] = &tile_portable<6>;
  }
};

const Tiles& tiles() {
  static const Tiles t(true);
  return t;
}

const Tiles& portable_tiles() {
  static const Tiles t(false);
  return t;
}

}  // namespace

bool PackedLinear::vectorized() {
  static const bool v = cpu_has_avx2_fma();
  return v;
}

PackedLinear::PackedLinear(const float* w, std::int64_t n, std::int64_t k, const float* bias) : m_n(n), m_k(k) {
  const std::int64_t np = panels();
  m_packed.assign(static_cast<std::size_t>(np * k * P), 0.0f);
  m_bias.assign(static_cast<std::size_t>(np * P), 0.0f);
  for (std::int64_t j = 0; j < n; ++j) {
    float* dst = m_packed.data() + (j / P) * k * P + (j % P);
    const float* src = w + j * k;
    for (std::int64_t kk = 0; kk < k; ++kk) dst[kk * P] = src[kk];
    if (bias) m_bias[static_cast<std::size_t>(j)] = bias[j];
  }
  (void)tiles();
}

void PackedLinear::apply_panels(const float* x, std::int64_t m, float* y, std::int64_t p0, std::int64_t p1) const {
  run(tiles(), x, m, y, p0, p1);
}

void PackedLinear::apply_portable(const float* x, std::int64_t m, float* y) const {
  run(portable_tiles(), x, m, y, 0, panels());
}

template <typename T>
void PackedLinear::run(const T& t, const float* x, std::int64_t m, float* y, std::int64_t p0, std::int64_t p1) const {
  const std::int64_t k = m_k, n = m_n;
  float scratch[k_rows * P];  // a tile of the last panel when it is narrower than 16
  // The block of x being multiplied, packed (grown once per thread, never shrunk).
  thread_local std::vector<float> packed_x;
  if (packed_x.size() < static_cast<std::size_t>(k_mc * k_kc)) packed_x.resize(static_cast<std::size_t>(k_mc * k_kc));
  for (std::int64_t ic = 0; ic < m; ic += k_mc) {
    const std::int64_t ie = std::min(m, ic + k_mc);
    for (std::int64_t kc = 0;; kc += k_kc) {  // at least one block: k = 0 still adds the bias
      const std::int64_t kn = std::min(k_kc, k - kc);
      const bool first = kc == 0, last = kc + k_kc >= k;
      for (std::int64_t i = ic; i < ie; i += k_rows) {  // tile (i - ic) / 6 at (i - ic) * kn
        const int r = static_cast<int>(std::min<std::int64_t>(k_rows, ie - i));
        float* dst = packed_x.data() + (i - ic) * kn;
        for (int rr = 0; rr < r; ++rr) {
          const float* src = x + (i + rr) * k + kc;
          for (std::int64_t kk = 0; kk < kn; ++kk) dst[kk * k_rows + rr] = src[kk];
        }
      }
      for (std::int64_t p = p0; p < p1; ++p) {
        const float* b = m_packed.data() + p * k * P + kc * P;
        const float* bias = last ? m_bias.data() + p * P : nullptr;
        const std::int64_t cols = std::min<std::int64_t>(P, n - p * P);
        for (std::int64_t i = ic; i < ie; i += k_rows) {
          const int r = static_cast<int>(std::min<std::int64_t>(k_rows, ie - i));
          const float* a = packed_x.data() + (i - ic) * kn;
          float* c = y + i * n + p * P;
#ifdef GHX_GEMM_X86
          // The next tile's rows of y (it loads or writes them first): out of cache by now when
          // rows of y are long, and a tile's work hides their latency.
          const std::int64_t next = std::min<std::int64_t>(k_rows, ie - i - k_rows);
          for (std::int64_t rr = 0; rr < next; ++rr) {
            _mm_prefetch(reinterpret_cast<const char*>(c + (k_rows + rr) * n), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(c + (k_rows + rr) * n + cols - 1), _MM_HINT_T0);
          }
#endif
          if (cols == P) {
            t.fn[r](a, b, kn, c, n, first, bias);
            continue;
          }
          for (int rr = 0; rr < r; ++rr) {
            std::memcpy(scratch + rr * P, c + rr * n, static_cast<std::size_t>(cols) * sizeof(float));
            std::fill(scratch + rr * P + cols, scratch + (rr + 1) * P, 0.0f);
          }
          t.fn[r](a, b, kn, scratch, P, first, bias);
          for (int rr = 0; rr < r; ++rr)
            std::memcpy(c + rr * n, scratch + rr * P, static_cast<std::size_t>(cols) * sizeof(float));
        }
      }
      if (last) break;
    }
  }
}

}  // namespace ghx::models
