// PackedLinear (models/gemm.h): every output element is the fma chain the header writes down,
// so a row's bits do not depend on the rows beside it, its position, the thread split or the
// kernel. Checked against that chain written out here, bit for bit, over shapes that exercise
// every tile height, narrow last panels, k blocks and row blocks.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "models/gemm.h"

using ghx::models::PackedLinear;

namespace {

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

/// The header's definition, one element at a time.
std::vector<float> chain(const std::vector<float>& x, std::int64_t m, const std::vector<float>& w, std::int64_t n,
                         std::int64_t k, const float* bias) {
  std::vector<float> y(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (std::int64_t kk = 0; kk < k; ++kk) acc = std::fma(x[i * k + kk], w[j * k + kk], acc);
      y[i * n + j] = bias ? acc + bias[j] : acc;
    }
  return y;
}

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

}  // namespace

TEST_CASE("gemm: each element is the documented fma chain, bit for bit", "[models][gemm]") {
  struct Shape {
    std::int64_t m, n, k;
  };
  // tile heights 1..6 and their sums, panels of 16 and narrower, k across the 256-step blocks,
  // rows across the 240-row blocks, k = 0 (bias only)
  const Shape shapes[] = {{1, 1, 1},   {5, 7, 3},    {6, 16, 16},   {7, 17, 31},  {13, 40, 64}, {16, 48, 255},
                          {17, 33, 256}, {31, 16, 257}, {3, 80, 600}, {241, 20, 9}, {250, 35, 300}, {4, 9, 0}};
  std::uint32_t seed = 1;
  for (const Shape& s : shapes) {
    const auto x = random_floats(static_cast<std::size_t>(s.m * s.k), seed++);
    const auto w = random_floats(static_cast<std::size_t>(s.n * s.k), seed++);
    const auto b = random_floats(static_cast<std::size_t>(s.n), seed++);
    for (const float* bias : {static_cast<const float*>(nullptr), b.data()}) {
      const PackedLinear l(w.data(), s.n, s.k, bias);
      std::vector<float> y(static_cast<std::size_t>(s.m * s.n), -1.0f);
      l.apply(x.data(), s.m, y.data());
      const auto want = chain(x, s.m, w, s.n, s.k, bias);
      INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " bias=" << (bias != nullptr)
                << " vectorized=" << PackedLinear::vectorized());
      CHECK(same_bits(y.data(), want.data(), y.size()));
      std::vector<float> yp(y.size(), -1.0f);
      l.apply_portable(x.data(), s.m, yp.data());
      CHECK(same_bits(yp.data(), want.data(), yp.size()));
    }
  }
}

TEST_CASE("gemm: a row's bits do not depend on its neighbours, its position or the threads", "[models][gemm]") {
  const std::int64_t n = 3 * 16 + 5, k = 700, m = 37;
  const auto w = random_floats(static_cast<std::size_t>(n * k), 11);
  const auto b = random_floats(static_cast<std::size_t>(n), 12);
  const auto x = random_floats(static_cast<std::size_t>(m * k), 13);
  const PackedLinear l(w.data(), n, k, b.data());
  std::vector<float> all(static_cast<std::size_t>(m * n));
  l.apply(x.data(), m, all.data());
  // each row alone, and in a product where it sits at another position among other rows
  for (std::int64_t i = 0; i < m; ++i) {
    std::vector<float> one(static_cast<std::size_t>(n));
    l.apply(x.data() + i * k, 1, one.data());
    CHECK(same_bits(one.data(), all.data() + i * n, static_cast<std::size_t>(n)));
  }
  std::vector<float> shifted(static_cast<std::size_t>((m + 3) * k));
  const auto noise = random_floats(static_cast<std::size_t>(3 * k), 14);
  std::memcpy(shifted.data(), noise.data(), noise.size() * sizeof(float));
  std::memcpy(shifted.data() + 3 * k, x.data(), x.size() * sizeof(float));
  std::vector<float> y2(static_cast<std::size_t>((m + 3) * n));
  l.apply(shifted.data(), m + 3, y2.data());
  CHECK(same_bits(y2.data() + 3 * n, all.data(), all.size()));
  // panels split over 1, 2 and 3 threads
  for (int threads : {1, 2, 3}) {
    std::vector<float> y(static_cast<std::size_t>(m * n));
    std::vector<std::thread> pool;
    const std::int64_t np = l.panels();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { l.apply_panels(x.data(), m, y.data(), np * t / threads, np * (t + 1) / threads); });
    for (auto& th : pool) th.join();
    CHECK(same_bits(y.data(), all.data(), all.size()));
  }
}

TEST_CASE("gemm: close to the exact product", "[models][gemm]") {
  const std::int64_t m = 9, n = 21, k = 1000;
  const auto x = random_floats(static_cast<std::size_t>(m * k), 21);
  const auto w = random_floats(static_cast<std::size_t>(n * k), 22);
  const PackedLinear l(w.data(), n, k, nullptr);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  l.apply(x.data(), m, y.data());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double exact = 0, mag = 0;
      for (std::int64_t kk = 0; kk < k; ++kk) {
        exact += double(x[i * k + kk]) * double(w[j * k + kk]);
        mag += std::fabs(double(x[i * k + kk]) * double(w[j * k + kk]));
      }
      CHECK(std::fabs(y[i * n + j] - exact) <= 1e-5 * mag);
    }
}

// GFLOP/s of PackedLinear at CLIP's shapes, on 1 and 2 threads (panels split evenly):
//   ghx_tests "[.gemm_bench]" -s
TEST_CASE("gemm: rates at CLIP's shapes", "[.gemm_bench]") {
  struct Shape {
    std::int64_t m, n, k;
  };
  // CLIP text's four products for a pass of 64 prompts of 5..40 tokens (about 1440 rows), then
  // smaller passes and ViT-H/14's image shapes.
  for (const Shape& s : {Shape{1440, 2304, 768}, Shape{1440, 768, 768}, Shape{1440, 3072, 768}, Shape{1440, 768, 3072},
                         Shape{32, 3072, 768}, Shape{320, 3072, 768}, Shape{257, 4096, 1024}, Shape{257, 1024, 4096}}) {
    const auto x = random_floats(static_cast<std::size_t>(s.m * s.k), 1);
    const auto w = random_floats(static_cast<std::size_t>(s.n * s.k), 2);
    const PackedLinear l(w.data(), s.n, s.k, nullptr);
    std::vector<float> y(static_cast<std::size_t>(s.m * s.n));
    for (int threads : {1, 2}) {
      auto once = [&] {
        std::vector<std::thread> pool;
        const std::int64_t np = l.panels();
        for (int t = 1; t < threads; ++t)
          pool.emplace_back([&, t] { l.apply_panels(x.data(), s.m, y.data(), np * t / threads, np * (t + 1) / threads); });
        l.apply_panels(x.data(), s.m, y.data(), 0, np / threads);
        for (auto& th : pool) th.join();
      };
      once();
      double best = 1e30;
      for (int r = 0; r < 7; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        once();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::printf("m=%lld n=%lld k=%lld threads=%d: %.1f GFLOP/s\n", static_cast<long long>(s.m),
                  static_cast<long long>(s.n), static_cast<long long>(s.k), threads,
                  2.0 * s.m * s.n * s.k / best / 1e9);
    }
  }
}
